"""Machine credentials (API keys, mTLS identities) answer to their organization's IP rules and home region.

The middleware checks both before any machine credential is known, so the gateway's authentication does
it once the organization is: a denied address gets 403, a foreign organization a 307 to its region.
"""

from __future__ import annotations

from rest_framework.test import APIClient

from apps.gateway import services
from apps.security import services as security
from apps.security.models import IPRuleAction
from tests.factories.accounts import OrganizationFactory
from tests.factories.gateway import ApiClientFactory
from tests.factories.regions import RegionFactory
from tests.gateway.certificates import make_ca, make_client_certificate

EU = "https://eu-west.nofx.example"


def _keyed(token: str, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_key_calling_from_an_address_its_organization_denies_gets_403(organization, key_token):
    # given
    security.create_ip_rule(organization=organization, cidr="127.0.0.66/32", action=IPRuleAction.DENY, actor=None)
    # when
    refused = _keyed(key_token, "127.0.0.66").get("/api/v1/teams/")
    allowed = _keyed(key_token, "127.0.0.67").get("/api/v1/teams/")
    # then
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/ip-denied")
    assert allowed.status_code == 200


def test_a_key_outside_its_organizations_allow_list_gets_403(organization, key_token):
    security.create_ip_rule(organization=organization, cidr="127.0.1.0/24", action=IPRuleAction.ALLOW, actor=None)

    outside = _keyed(key_token, "127.0.0.5").get("/api/v1/teams/")
    inside = _keyed(key_token, "127.0.1.5").get("/api/v1/teams/")

    assert (outside.status_code, inside.status_code) == (403, 200)
    assert outside.json()["type"].endswith("/ip-not-allowed")


def test_another_organizations_rule_does_not_touch_my_key(organization, other_organization, key_token):
    security.create_ip_rule(organization=other_organization, cidr="127.0.0.66/32", action=IPRuleAction.DENY, actor=None)

    assert _keyed(key_token, "127.0.0.66").get("/api/v1/teams/").status_code == 200


def test_a_key_of_an_organization_homed_in_another_region_is_sent_there(issue_key, roomy_plan):
    # given an organization this region holds but does not serve
    RegionFactory(code="eu-west", public_url=EU)
    moved = OrganizationFactory(home_region_code="eu-west")
    client_row = ApiClientFactory(organization=moved, plan=roomy_plan)
    token = issue_key(client_row)[1]
    # when
    response = _keyed(token).post("/api/v1/teams/?x=1", {"name": "Ops"}, format="json")
    # then a 307 keeps the method and body for the other region, and nothing was done here
    assert response.status_code == 307
    assert response["Location"] == f"{EU}/api/v1/teams/?x=1"
    body = response.json()
    assert (body["region"], body["location"]) == ("eu-west", f"{EU}/api/v1/teams/?x=1")
    assert body["type"].endswith("/region-redirect")
    assert not moved.teams.exists()


def test_a_key_of_an_organization_in_an_unknown_region_is_refused(issue_key, roomy_plan):
    moved = OrganizationFactory(home_region_code="ap-south")
    token = issue_key(ApiClientFactory(organization=moved, plan=roomy_plan))[1]

    response = _keyed(token).get("/api/v1/teams/")

    assert response.status_code == 503
    assert response.json()["region"] == "ap-south"


def test_an_mtls_identity_answers_to_its_organizations_rules_too(gateway_client, organization, settings):
    # given a certificate the edge proxy vouches for, and a rule denying the proxy's address
    settings.TRUSTED_PROXIES = ["172.20.0.0/24"]
    ca = make_ca()
    services.add_certificate_authority(organization=organization, actor=None, name="Corp CA", certificate_pem=ca.pem)
    issued = make_client_certificate(ca)
    services.register_client_certificate(client=gateway_client, actor=None, name="erp", certificate_pem=issued.pem)
    security.create_ip_rule(organization=organization, cidr="172.20.0.2/32", action=IPRuleAction.DENY, actor=None)
    # when
    client = APIClient()
    client.credentials(
        REMOTE_ADDR="172.20.0.2", HTTP_X_CLIENT_CERT_SHA256=issued.fingerprint, HTTP_X_CLIENT_CERT_VERIFY="SUCCESS"
    )
    response = client.get("/api/v1/teams/")
    # then
    assert response.status_code == 403
    assert response.json()["type"].endswith("/ip-denied")
