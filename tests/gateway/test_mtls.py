"""mTLS: the edge verifies the certificate and forwards its SHA-256 fingerprint; the app trusts that header
only from the configured proxies and maps the fingerprint to one client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.gateway import services
from apps.gateway.models import ClientCertificate
from tests.factories.accounts import TeamFactory
from tests.factories.gateway import ApiClientFactory
from tests.gateway.certificates import make_ca, make_client_certificate

PROXY = "172.20.0.2"


@pytest.fixture(autouse=True)
def _trust_the_proxy(settings):
    settings.TRUSTED_PROXIES = ["172.20.0.0/24"]


def _through_edge(fingerprint: str, *, peer: str = PROXY, verify: str = "SUCCESS") -> APIClient:
    client = APIClient()
    client.credentials(REMOTE_ADDR=peer, HTTP_X_CLIENT_CERT_SHA256=fingerprint, HTTP_X_CLIENT_CERT_VERIFY=verify)
    return client


@pytest.fixture
def registered(gateway_client):
    ca = make_ca()
    services.add_certificate_authority(
        organization=gateway_client.organization, actor=None, name="Corp CA", certificate_pem=ca.pem
    )
    issued = make_client_certificate(ca)
    services.register_client_certificate(client=gateway_client, actor=None, name="erp", certificate_pem=issued.pem)
    return issued


def test_a_registered_certificate_from_the_trusted_proxy_is_served(registered, organization):
    team = TeamFactory(organization=organization)

    response = _through_edge(registered.fingerprint).get("/api/v1/teams/")

    assert response.status_code == 200
    assert [t["id"] for t in response.json()["results"]] == [str(team.pk)]


def test_the_fingerprint_may_be_written_with_colons_and_capitals(registered):
    spelled = ":".join(registered.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()

    assert _through_edge(spelled).get("/api/v1/teams/").status_code == 200


def test_the_header_from_an_untrusted_source_is_ignored(registered):
    # when a caller sends the header itself, straight to the app
    response = _through_edge(registered.fingerprint, peer="203.0.113.5").get("/api/v1/teams/")
    # then it has presented no credentials at all
    assert response.status_code == 401


def test_a_certificate_the_edge_did_not_verify_is_ignored(registered):
    response = _through_edge(registered.fingerprint, verify="FAILED:unable to verify").get("/api/v1/teams/")

    assert response.status_code == 401


def test_an_unknown_fingerprint_answers_401(gateway_client):
    stranger = make_client_certificate(make_ca("Someone Else CA"))

    response = _through_edge(stranger.fingerprint).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/unknown-certificate")
    assert "WWW-Authenticate" in response


def test_a_revoked_certificate_answers_401(registered):
    certificate = ClientCertificate.objects.get(fingerprint_sha256=registered.fingerprint)
    services.revoke_client_certificate(certificate=certificate, actor=None, reason="device lost")

    response = _through_edge(registered.fingerprint).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/revoked-certificate")


def test_an_expired_registration_answers_401(registered):
    ClientCertificate.objects.filter(fingerprint_sha256=registered.fingerprint).update(
        not_after=timezone.now() - timedelta(minutes=1)
    )

    response = _through_edge(registered.fingerprint).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/expired-certificate")


def test_a_certificate_carries_its_clients_scopes_only(registered, gateway_client):
    services.update_api_client(client=gateway_client, actor=None, allowed_scopes=["gateway:read"])

    assert _through_edge(registered.fingerprint).get("/api/v1/teams/").status_code == 403
    assert _through_edge(registered.fingerprint).get("/api/v1/api-clients/").status_code == 200


def test_a_certificate_never_reaches_another_organization(registered, other_organization):
    foreign = TeamFactory(organization=other_organization)

    response = _through_edge(registered.fingerprint).get(f"/api/v1/teams/{foreign.pk}/")

    assert response.status_code == 404


def test_a_certificate_not_signed_by_the_organizations_ca_is_refused_at_registration(owner_client, gateway_client):
    # given the organization trusts one CA
    services.add_certificate_authority(
        organization=gateway_client.organization, actor=None, name="Corp CA", certificate_pem=make_ca().pem
    )
    rogue = make_client_certificate(make_ca("Rogue CA"))
    # when
    response = owner_client.post(
        "/api/v1/client-certificates/", {"client": str(gateway_client.pk), "certificate_pem": rogue.pem}
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "untrusted_issuer"


def test_a_fingerprint_belongs_to_one_client_only(owner_client, organization, registered):
    other = ApiClientFactory(organization=organization)

    response = owner_client.post(
        "/api/v1/client-certificates/", {"client": str(other.pk), "fingerprint_sha256": registered.fingerprint}
    )

    assert response.status_code == 409


def test_an_owner_registers_a_certificate_by_fingerprint(owner_client, gateway_client):
    fingerprint = make_client_certificate(make_ca()).fingerprint

    response = owner_client.post(
        "/api/v1/client-certificates/",
        {"client": str(gateway_client.pk), "name": "gateway box", "fingerprint_sha256": fingerprint.upper()},
    )

    assert response.status_code == 201
    assert response.json()["fingerprint_sha256"] == fingerprint
    assert _through_edge(fingerprint).get("/api/v1/teams/").status_code == 200


def test_garbage_instead_of_a_certificate_is_refused(owner_client, gateway_client):
    response = owner_client.post(
        "/api/v1/client-certificates/", {"client": str(gateway_client.pk), "certificate_pem": "not a certificate"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "invalid_certificate"


def test_a_registration_needs_exactly_one_of_pem_or_fingerprint(owner_client, gateway_client):
    response = owner_client.post("/api/v1/client-certificates/", {"client": str(gateway_client.pk)})

    assert response.status_code == 400
