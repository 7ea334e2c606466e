"""SAML 2.0 sign-in against a real SimpleSAMLphp IdP on loopback."""

from __future__ import annotations

import base64
import re

import pytest
import requests
from django.test import Client
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import EmailDomain, Membership, SecurityPolicy, User, UserSession
from apps.accounts.roles import Role
from apps.core.exceptions import BusinessRuleViolation
from apps.security.models import AuditEvent
from tests.factories.accounts import DEFAULT_PASSWORD, MembershipFactory, OrganizationFactory, TeamFactory

SLUG = "acme"


@pytest.fixture
def acme(db, saml_idp, settings):
    """An organization with a verified domain and the IdP configured from its metadata URL."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    organization = OrganizationFactory(slug=SLUG, name="Acme")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    EmailDomain.objects.create(organization=organization, domain="acme.test", verified_at=timezone.now())
    TeamFactory(organization=organization, slug="platform", name="Platform")
    services.configure_saml_idp(
        organization=organization,
        actor=owner,
        metadata_url=saml_idp.metadata_url,
        group_map=[{"group": "platform-admins", "team": "platform", "role": "admin"}],
    )
    saml_idp.register_sp(f"http://testserver/sso/saml/{SLUG}/metadata/", f"http://testserver/sso/saml/{SLUG}/acs/")
    return organization


def _idp_answer(client: Client, saml_idp, username: str = "ada") -> dict[str, str]:
    start = client.get(f"/sso/saml/{SLUG}/login/")
    assert start.status_code == 302, start.content
    assert start["Location"].startswith(saml_idp.base_url)
    return saml_idp.sign_in(requests.Session(), start["Location"], username)


def _post_answer(client: Client, answer: dict[str, str]):
    return client.post(
        f"/sso/saml/{SLUG}/acs/", {"SAMLResponse": answer["SAMLResponse"], "RelayState": answer.get("RelayState", "")}
    )


def test_a_person_signs_in_through_the_idp_and_is_provisioned_just_in_time(acme, saml_idp):
    # given
    client = Client()
    # when
    answer = _idp_answer(client, saml_idp)
    response = _post_answer(client, answer)
    # then they land on their organization's page, as a new member with the mapped role and team
    assert answer["action"] == f"http://testserver/sso/saml/{SLUG}/acs/"
    assert response.status_code == 302
    assert response["Location"] == "/account/organization/"
    page = client.get("/account/organization/")
    assert page.status_code == 200
    assert "Acme" in page.content.decode()
    ada = User.objects.get(email="ada@acme.test")
    assert ada.full_name == "Ada Lovelace"
    assert not ada.has_usable_password()
    membership = Membership.objects.get(user=ada, organization=acme)
    assert membership.role == Role.ADMIN
    assert list(membership.teams.values_list("slug", flat=True)) == ["platform"]
    session = UserSession.objects.get(user=ada)
    assert (session.method, session.organization_id) == ("saml", acme.pk)
    assert AuditEvent.objects.filter(action="accounts.member_provisioned", organization=acme).exists()
    assert AuditEvent.objects.filter(action="accounts.signed_in", data__method="saml").exists()


def test_a_replayed_saml_response_is_refused(acme, saml_idp):
    # given a response that signed someone in
    client = Client()
    answer = _idp_answer(client, saml_idp)
    assert _post_answer(client, answer).status_code == 302
    # when it is posted again, in the same browser and in another one
    same = _post_answer(client, answer)
    other = _post_answer(Client(), answer)
    # then both are refused with an explanation
    assert same.status_code == 403
    assert other.status_code == 403
    assert "used already" in same.content.decode()
    assert UserSession.objects.filter(user__email="ada@acme.test").count() == 1


def test_a_response_answering_no_request_of_this_browser_is_refused(acme, saml_idp):
    # given a fresh response obtained by another browser, not yet used
    answer = _idp_answer(Client(), saml_idp)
    # when a browser that started no sign-in posts it (as an IdP-initiated response would arrive)
    response = _post_answer(Client(), answer)
    # then
    assert response.status_code == 403
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_an_unsigned_assertion_is_refused(acme, saml_idp):
    # given the IdP's response with the assertion's signature stripped
    client = Client()
    answer = _idp_answer(client, saml_idp)
    xml = base64.b64decode(answer["SAMLResponse"]).decode()
    assert "<ds:Signature" in xml
    unsigned = re.sub(r"<ds:Signature[\s\S]*?</ds:Signature>", "", xml)
    answer["SAMLResponse"] = base64.b64encode(unsigned.encode()).decode()
    # when
    response = _post_answer(client, answer)
    # then
    assert response.status_code == 403
    assert "Single sign-on failed" in response.content.decode()
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_a_tampered_attribute_breaks_the_signature(acme, saml_idp):
    client = Client()
    answer = _idp_answer(client, saml_idp)
    xml = base64.b64decode(answer["SAMLResponse"]).decode().replace("ada@acme.test", "eve@acme.test")
    answer["SAMLResponse"] = base64.b64encode(xml.encode()).decode()

    response = _post_answer(client, answer)

    assert response.status_code == 403
    assert not User.objects.filter(email__in=["ada@acme.test", "eve@acme.test"]).exists()


def test_an_idp_cannot_sign_in_an_address_outside_the_organizations_verified_domains(acme, saml_idp):
    client = Client()

    response = _post_answer(client, _idp_answer(client, saml_idp, "mallory"))

    assert response.status_code == 403
    assert "verified email domains" in response.content.decode()
    assert not User.objects.filter(email="mallory@elsewhere.test").exists()


def test_our_sp_metadata_is_published_per_organization(acme):
    response = Client().get(f"/sso/saml/{SLUG}/metadata/")

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert f'entityID="http://testserver/sso/saml/{SLUG}/metadata/"' in body
    assert f'Location="http://testserver/sso/saml/{SLUG}/acs/"' in body
    assert 'WantAssertionsSigned="true"' in body


def test_an_organization_without_an_idp_shows_a_clear_error_page(db):
    OrganizationFactory(slug="no-sso")

    response = Client().get("/sso/saml/no-sso/login/")

    assert response.status_code == 503
    assert "has no enabled SAML identity provider" in response.content.decode()


def test_an_unknown_organization_answers_404(db):
    assert Client().get("/sso/saml/nobody-here/login/").status_code == 404


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("not xml at all", "not a valid SAML metadata document"),
        (
            '<?xml version="1.0"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
            "exactly one",
        ),
    ],
)
def test_unusable_metadata_is_refused_when_saved(organization, owner, metadata, message):
    with pytest.raises(BusinessRuleViolation) as refused:
        services.configure_saml_idp(organization=organization, actor=owner, metadata_xml=metadata)
    assert message in refused.value.message


def test_a_metadata_url_on_a_private_address_is_refused_unless_allowed(organization, owner, saml_idp, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(BusinessRuleViolation) as refused:
        services.configure_saml_idp(organization=organization, actor=owner, metadata_url=saml_idp.metadata_url)

    assert refused.value.code == "private_address"


def test_the_login_page_sends_an_sso_domain_to_its_idp(acme):
    response = Client().post("/accounts/login/", {"login": "someone@ACME.test"})

    assert response.status_code == 302
    assert response["Location"] == f"/sso/saml/{SLUG}/login/"


def test_an_address_without_sso_continues_with_a_password(acme):
    response = Client().post("/accounts/login/", {"login": "person@example.com"})

    assert response["Location"] == "/accounts/login/?login=person%40example.com"


def test_an_unverified_domain_claim_routes_nobody(db, acme):
    EmailDomain.objects.create(organization=acme, domain="unverified.test")

    response = Client().post("/accounts/login/", {"login": "x@unverified.test"})

    assert response["Location"].startswith("/accounts/login/?login=")


def test_required_sso_refuses_a_members_password_but_not_the_break_glass_owner(acme):
    # given
    owner = Membership.objects.get(organization=acme, role=Role.OWNER).user
    member = User.objects.create_user(email="carol@acme.test", password=DEFAULT_PASSWORD)
    Membership.objects.create(user=member, organization=acme, role=Role.DEVELOPER)
    services.update_security_policy(
        organization=acme,
        actor=owner,
        require_mfa=False,
        require_sso=True,
        break_glass_user=owner,
        idle_timeout_minutes=None,
        absolute_timeout_minutes=None,
    )
    # when
    refused = Client().post("/accounts/login/", {"login": member.email, "password": DEFAULT_PASSWORD})
    allowed = Client().post("/accounts/login/", {"login": owner.email, "password": DEFAULT_PASSWORD})
    # then
    assert refused.status_code == 200
    assert "requires single sign-on" in refused.content.decode()
    assert allowed.status_code == 302
    assert SecurityPolicy.objects.get(organization=acme).require_sso


def test_sso_cannot_be_required_without_an_idp(organization, owner):
    with pytest.raises(BusinessRuleViolation) as refused:
        services.update_security_policy(
            organization=organization,
            actor=owner,
            require_mfa=False,
            require_sso=True,
            break_glass_user=None,
            idle_timeout_minutes=None,
            absolute_timeout_minutes=None,
        )
    assert refused.value.field == "require_sso"


def test_the_daily_refresh_rereads_metadata_from_its_url_and_keeps_the_last_good_one_on_failure(
    acme, saml_idp, settings
):
    # given metadata that went stale
    from apps.accounts.models import SamlIdentityProvider
    from apps.accounts.tasks import refresh_saml_metadata_task

    idp = SamlIdentityProvider.objects.get(organization=acme)
    good = idp.metadata_xml
    SamlIdentityProvider.objects.filter(pk=idp.pk).update(metadata_xml=good.replace("  ", " "))
    # when
    changed = refresh_saml_metadata_task()
    # then
    idp.refresh_from_db()
    assert changed == 1
    assert idp.metadata_xml == good
    assert AuditEvent.objects.filter(action="accounts.saml_metadata_refreshed").exists()
    # when the URL starts pointing somewhere refused
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    assert refresh_saml_metadata_task() == 0
    # then the last good document stays
    idp.refresh_from_db()
    assert idp.metadata_xml == good
    assert AuditEvent.objects.filter(action="accounts.saml_metadata_refresh_failed").exists()
