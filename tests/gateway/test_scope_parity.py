"""One list of scopes: an OAuth2 token and an API key with the same scope reach the same endpoints."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import scopes as account_scopes
from apps.accounts import services as accounts
from apps.gateway import scopes as gateway_scopes
from tests.factories.gateway import ApiClientFactory

ENDPOINTS = (
    "/api/v1/organizations/",
    "/api/v1/teams/",
    "/api/v1/memberships/",
    "/api/v1/audit-events/",
    "/api/v1/connectors/",
    "/api/v1/workflows/",
    "/api/v1/api-clients/",
    "/api/v1/security-events/",
    "/api/v1/ip-rules/",
    "/api/v1/compliance-assessments/",
    "/api/v1/installations/",
)

# Permission areas with a list endpoint above (billing's lists are people's pages, not this API's).
AREAS_LISTED = {
    "organization",
    "teams",
    "members",
    "audit",
    "connectors",
    "workflows",
    "gateway",
    "security",
    "compliance",
    "extensions",
}


def _oauth_token(organization, owner, scope: str) -> str:
    registration, secret = accounts.register_oauth_app(
        organization=organization, actor=owner, name=f"Robot {scope}", kind="machine", scopes=[scope]
    )
    basic = base64.b64encode(f"{registration.application.client_id}:{secret}".encode()).decode()
    answer = Client().post(
        "/o/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert answer.status_code == 200, answer.content
    return str(answer.json()["access_token"])


def _codes(token: str) -> dict[str, int]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return {path: client.get(path).status_code for path in ENDPOINTS}


@pytest.mark.parametrize("scope", sorted(gateway_scopes.SCOPES))
def test_an_oauth_token_and_an_api_key_with_the_same_scope_reach_the_same_endpoints(
    scope, organization, owner, roomy_plan, issue_key
):
    # given an API key and a client-credentials token carrying only `scope`
    api_client = ApiClientFactory(organization=organization, plan=roomy_plan, allowed_scopes=[scope])
    key_token = issue_key(api_client, scopes=[scope])[1]
    oauth_token = _oauth_token(organization, owner, scope)
    # when both call every endpoint
    by_key, by_oauth = _codes(key_token), _codes(oauth_token)
    # then they are let in and kept out alike, and a scope that reads something opens at least one door
    assert by_key == by_oauth
    granted = gateway_scopes.SCOPES[scope].permissions
    reads = any(p.endswith(".view") and p.split(".")[0] in AREAS_LISTED for p in granted)
    assert (200 in by_key.values()) == reads


def test_the_gateway_offers_a_part_of_the_one_list_with_the_same_grants():
    for name, scope in gateway_scopes.SCOPES.items():
        assert account_scopes.SCOPES[name] is scope
    assert set(gateway_scopes.SCOPES) < set(account_scopes.API_SCOPES)


def test_the_names_api_keys_were_first_offered_keep_their_grants():
    grants = {name: sorted(s.permissions) for name, s in gateway_scopes.SCOPES.items()}

    assert grants["organization:read"] == ["members.view", "organization.view", "teams.view"]
    assert grants["teams:write"] == ["teams.manage", "teams.view"]
    assert grants["connectors:execute"] == ["connectors.operate"]
    assert grants["workflows:run"] == ["workflows.operate", "workflows.view"]
    assert grants["gateway:write"] == ["gateway.manage", "gateway.view"]


def test_people_management_is_no_machine_scope():
    assert "members:write" in account_scopes.API_SCOPES
    offered = ["members:write", "security:write", "billing:write", "organization:write", "teams:write"]
    assert gateway_scopes.unknown_scopes(offered) == sorted(set(offered) - {"teams:write"})
    assert "compliance:read" in gateway_scopes.SCOPES
