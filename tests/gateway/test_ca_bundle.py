"""The client CA bundle nginx verifies certificates against."""

from datetime import timedelta

from cryptography import x509
from django.core.management import call_command
from django.utils import timezone

from apps.gateway import services
from apps.gateway.models import CertificateAuthority
from tests.gateway.certificates import make_ca


def test_the_bundle_holds_every_live_ca_and_nothing_else(organization, other_organization, tmp_path):
    # given two organizations' CAs, one of them revoked and one expired
    kept = [make_ca("Acme CA"), make_ca("Foreign CA")]
    services.add_certificate_authority(organization=organization, actor=None, name="a", certificate_pem=kept[0].pem)
    services.add_certificate_authority(
        organization=other_organization, actor=None, name="b", certificate_pem=kept[1].pem
    )
    revoked = services.add_certificate_authority(
        organization=organization, actor=None, name="c", certificate_pem=make_ca("Old CA").pem
    )
    CertificateAuthority.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired = services.add_certificate_authority(
        organization=organization, actor=None, name="d", certificate_pem=make_ca("Lapsed CA").pem
    )
    CertificateAuthority.objects.filter(pk=expired.pk).update(not_after=timezone.now() - timedelta(days=1))
    target = tmp_path / "client-ca" / "bundle.pem"
    # when
    call_command("write_client_ca_bundle", str(target))
    # then
    loaded = x509.load_pem_x509_certificates(target.read_bytes())
    assert {c.subject.rfc4514_string() for c in loaded} == {"CN=Acme CA", "CN=Foreign CA"}


def test_an_empty_bundle_is_still_written(db, tmp_path):
    target = tmp_path / "bundle.pem"

    call_command("write_client_ca_bundle", str(target))

    assert target.read_text() == ""
