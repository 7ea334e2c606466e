"""The gateway keeps per-process copies of credentials, connectors and residency rules; changes apply at once.

These tests commit (transactional database), so requests run outside any transaction and really use the
copies, as a worker in production does.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.connectors.services import set_connector_paused
from apps.gateway import services
from apps.gateway.models import ClientStatus
from apps.regions.models import RuleEffect
from tests.factories.regions import RegionFactory, ResidencyRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _code(response) -> str:
    return response.json()["type"].rsplit("/", 1)[-1]


def _action_url(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/actions/comment_on_issue/"


def test_a_known_key_is_checked_without_asking_the_database_again(machine, key_token):
    # given
    machine(key_token).get("/api/v1/teams/")
    # when
    with CaptureQueriesContext(connection) as queries:
        response = machine(key_token).get("/api/v1/teams/")
    # then
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "gateway_apikey" in q["sql"]]


def test_a_revoked_key_stops_working_on_the_next_call(machine, gateway_client, issue_key):
    # given a key this process has a copy of
    key, token = issue_key(gateway_client)
    assert machine(token).get("/api/v1/teams/").status_code == 200
    # when
    services.revoke_api_key(key=key, actor=None, reason="leaked")
    response = machine(token).get("/api/v1/teams/")
    # then
    assert response.status_code == 401
    assert _code(response) == "revoked-api-key"


def test_suspending_the_client_refuses_its_keys_on_the_next_call(machine, gateway_client, key_token):
    # given
    assert machine(key_token).get("/api/v1/teams/").status_code == 200
    # when
    services.update_api_client(client=gateway_client, actor=None, status=ClientStatus.SUSPENDED)
    response = machine(key_token).get("/api/v1/teams/")
    # then
    assert response.status_code == 403
    assert _code(response) == "client-suspended"


def test_deactivating_the_organization_refuses_its_keys_on_the_next_call(machine, organization, key_token):
    # given
    assert machine(key_token).get("/api/v1/teams/").status_code == 200
    # when
    organization.is_active = False
    organization.save()
    response = machine(key_token).get("/api/v1/teams/")
    # then
    assert response.status_code == 401
    assert _code(response) == "organization-inactive"


def test_a_residency_rule_added_applies_to_the_next_action_call(
    machine, key_token, github_connector, github_sandbox, organization
):
    # given a connector declaring a US location, already called once
    github_connector.data_region = "us-east"
    github_connector.save(update_fields=["data_region"])
    assert machine(key_token).post(_action_url(github_connector), {"issue_number": 1, "body": "a"}).status_code == 200
    # when the organization's region starts allowing EU locations only
    ResidencyRuleFactory(
        region=RegionFactory(code=organization.home_region_code),
        effect=RuleEffect.ALLOW,
        location_pattern="eu-*",
        reason="GDPR: EU/EEA only",
    )
    response = machine(key_token).post(_action_url(github_connector), {"issue_number": 1, "body": "b"})
    # then
    assert response.status_code == 451
    assert [c["body"] for c in github_sandbox.comments.values()] == ["a"]


def test_pausing_a_connector_refuses_the_next_action_call(machine, key_token, github_connector, github_sandbox):
    # given a connector this process has a copy of
    assert machine(key_token).post(_action_url(github_connector), {"issue_number": 1, "body": "a"}).status_code == 200
    # when
    set_connector_paused(connector=github_connector, actor=None, paused=True)
    response = machine(key_token).post(_action_url(github_connector), {"issue_number": 1, "body": "b"})
    # then
    assert response.status_code == 422
    assert _code(response) == "connector-paused"
    assert [c["body"] for c in github_sandbox.comments.values()] == ["a"]


def test_another_organizations_connector_is_not_found_even_once_copied(
    machine, key_token, github_connector, other_organization, issue_key
):
    # given the connector was called (and copied) for its own organization
    assert machine(key_token).post(_action_url(github_connector), {"issue_number": 1, "body": "a"}).status_code == 200
    outsider = services.create_api_client(
        organization=other_organization, actor=None, name="outsider", allowed_scopes=["connectors:write"]
    )
    _key, foreign_token = issue_key(outsider)
    # when
    response = machine(foreign_token).post(_action_url(github_connector), {"issue_number": 1, "body": "b"})
    # then
    assert response.status_code == 404
