"""`/api/v1/connectors/`: CRUD with write-only secrets, checks, object types, actions and health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.connectors.models import Connector, ConnectorHealthSample, ConnectorStatus
from apps.connectors.sandboxes import github
from apps.security.models import AuditEvent
from tests.factories.connectors import ConnectorFactory
from tests.factories.sync import IntegrationWorkflowFactory

GITHUB = {"owner": github.OWNER, "repo": github.REPO}


@pytest.fixture
def github_sandbox(sandbox_for, loopback_allowed):
    return sandbox_for("github")


def _create(client, sandbox, **overrides):
    payload = {
        "name": "Engineering GitHub",
        "provider": "github",
        "base_url": sandbox.url,
        "settings": GITHUB,
        "credentials": {"token": github.TOKEN, "webhook_secret": "hush-hush-hush"},
        "data_region": "eu-west",
        "data_country": "de",
        **overrides,
    }
    return client.post("/api/v1/connectors/", payload, format="json")


def test_a_connector_is_created_and_its_secrets_are_never_returned(owner_client, github_sandbox, organization):
    # when
    response = _create(owner_client, github_sandbox)
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["credential_fields"] == ["token", "webhook_secret"]
    assert "credentials" not in body
    assert github.TOKEN not in response.content.decode()
    assert body["capabilities"] == ["comment_on_issue", "comment_on_pull_request", "set_commit_status", "close_issue"]
    assert body["webhook_url"].endswith(f"/hooks/{body['id']}/")
    assert (body["data_region"], body["data_country"]) == ("eu-west", "DE")
    connector = Connector.objects.get(pk=body["id"])
    assert connector.credentials["token"] == github.TOKEN
    assert AuditEvent.objects.filter(action="connectors.connector_created", target_id=body["id"]).exists()


def test_a_connector_pointed_at_loopback_is_refused_unless_the_platform_allows_it(owner_client, sandbox_for, settings):
    # given the setting off (production)
    sandbox = sandbox_for("github")
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    # when
    refused = _create(owner_client, sandbox)
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    allowed = _create(owner_client, sandbox)
    # then
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "base_url"
    assert "loopback" in refused.json()["errors"][0]["message"]
    assert allowed.status_code == 201


def test_every_invalid_setting_and_secret_is_named(owner_client, github_sandbox):
    response = _create(owner_client, github_sandbox, settings={"owner": "bad owner!"}, credentials={})

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"settings.owner", "settings.repo", "credentials.token"} <= fields


def test_an_unknown_provider_is_a_validation_error(owner_client, github_sandbox):
    response = _create(owner_client, github_sandbox, provider="myspace")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "provider"


def test_a_capability_the_provider_lacks_is_refused(owner_client, github_sandbox):
    response = _create(owner_client, github_sandbox, capabilities=["comment_on_issue", "launch_rockets"])

    assert response.status_code == 422
    assert "launch_rockets" in response.json()["errors"][0]["message"]


def test_a_bad_retry_policy_is_refused(owner_client, github_sandbox):
    response = _create(owner_client, github_sandbox, retry_policy={"max_attempts": 0, "jitter": "yes"})

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"retry_policy.max_attempts", "retry_policy.jitter"}


def test_two_connectors_cannot_share_a_name(owner_client, github_sandbox):
    _create(owner_client, github_sandbox)

    response = _create(owner_client, github_sandbox)

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "name_taken"


def test_patching_secrets_merges_them_and_still_never_shows_them(owner_client, github_sandbox):
    # given
    connector_id = _create(owner_client, github_sandbox).json()["id"]
    # when
    response = owner_client.patch(
        f"/api/v1/connectors/{connector_id}/",
        {"credentials": {"token": "ghp_rotated"}, "timeout_seconds": 10},
        format="json",
    )
    # then
    assert response.status_code == 200, response.content
    assert "ghp_rotated" not in response.content.decode()
    connector = Connector.objects.get(pk=connector_id)
    assert connector.credentials == {"token": "ghp_rotated", "webhook_secret": "hush-hush-hush"}
    assert connector.timeout_seconds == 10
    actions = set(AuditEvent.objects.filter(target_id=connector_id).values_list("action", flat=True))
    assert {"connectors.credentials_rotated", "connectors.connector_updated"} <= actions


def test_rotating_credentials_replaces_them_all(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox).json()["id"]

    response = owner_client.post(
        f"/api/v1/connectors/{connector_id}/rotate-credentials/", {"credentials": {"token": "ghp_new"}}, format="json"
    )

    assert response.json()["credential_fields"] == ["token"]
    assert Connector.objects.get(pk=connector_id).credentials == {"token": "ghp_new"}


def test_rotated_credentials_are_checked_by_the_provider(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox).json()["id"]

    response = owner_client.post(
        f"/api/v1/connectors/{connector_id}/rotate-credentials/", {"credentials": {"password": "x"}}, format="json"
    )

    assert response.status_code == 422
    assert Connector.objects.get(pk=connector_id).credentials["token"] == github.TOKEN


def test_testing_the_connection_records_a_health_sample(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox).json()["id"]

    response = owner_client.post(f"/api/v1/connectors/{connector_id}/test-connection/")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert ConnectorHealthSample.objects.filter(connector_id=connector_id, ok=True).count() >= 1


def test_a_failing_connection_test_says_why(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox, credentials={"token": "revoked"}).json()["id"]

    body = owner_client.post(f"/api/v1/connectors/{connector_id}/test-connection/").json()

    assert body["ok"] is False
    assert body["error_code"] == "authentication_failed"
    assert Connector.objects.get(pk=connector_id).status == ConnectorStatus.FAILING


def test_object_types_come_with_their_json_schemas(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox).json()["id"]

    types = owner_client.get(f"/api/v1/connectors/{connector_id}/object-types/").json()

    issue = next(t for t in types if t["name"] == "issue")
    assert issue["operations"] == ["read", "get", "create", "update"]
    assert issue["schema"]["properties"]["title"]["type"] == "string"
    assert issue["schema"]["properties"]["number"]["readOnly"] is True
    assert issue["id_field"] == "number"


def test_actions_come_with_schemas_permissions_and_whether_they_are_offered(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox, capabilities=["set_commit_status"]).json()["id"]

    actions = {a["name"]: a for a in owner_client.get(f"/api/v1/connectors/{connector_id}/actions/").json()}

    assert actions["set_commit_status"]["enabled"] is True
    assert actions["comment_on_issue"]["enabled"] is False
    assert actions["set_commit_status"]["permission"] == "connectors.operate"
    assert actions["set_commit_status"]["input_schema"]["required"] == ["sha", "state", "context"]


def test_health_shows_uptime_latency_and_errors_over_both_windows(owner_client, organization):
    # given a day of checks (1 in 4 failed) and an older month of good ones
    connector = ConnectorFactory(organization=organization)
    now = timezone.now()
    for n in range(8):
        ConnectorHealthSample.objects.create(
            connector=connector, checked_at=now - timedelta(hours=n), ok=n % 4 != 0, latency_ms=100 + 10 * n
        )
    for n in range(4):
        ConnectorHealthSample.objects.create(
            connector=connector, checked_at=now - timedelta(days=5 + n), ok=True, latency_ms=50
        )
    ConnectorHealthSample.objects.create(
        connector=connector, checked_at=now - timedelta(days=40), ok=False, latency_ms=1
    )
    # when
    health = owner_client.get(f"/api/v1/connectors/{connector.pk}/health/").json()
    # then
    day, month = health["windows"]["last_24h"], health["windows"]["last_30d"]
    assert (day["checks"], day["uptime_percent"], day["error_rate"]) == (8, 75.0, 0.25)
    assert (day["latency_p50_ms"], day["latency_p95_ms"]) == (130.0, 170.0)
    assert (month["checks"], month["uptime_percent"]) == (12, round(100 * 10 / 12, 3))
    assert month["latency_p50_ms"] == 110.0  # nearest rank of 4 x 50 ms and the day's 6 good checks


def test_pausing_stops_checks_and_resuming_restores_them(owner_client, github_sandbox):
    connector_id = _create(owner_client, github_sandbox).json()["id"]

    paused = owner_client.post(f"/api/v1/connectors/{connector_id}/pause/").json()
    refused = owner_client.post(f"/api/v1/connectors/{connector_id}/test-connection/")
    resumed = owner_client.post(f"/api/v1/connectors/{connector_id}/resume/").json()

    assert paused["status"] == "paused"
    assert refused.status_code == 422
    assert resumed["status"] == "active"


def test_deleting_a_connector_is_audited(owner_client, organization):
    connector = ConnectorFactory(organization=organization)

    response = owner_client.delete(f"/api/v1/connectors/{connector.pk}/")

    assert response.status_code == 204
    assert not Connector.objects.filter(pk=connector.pk).exists()
    assert AuditEvent.objects.filter(action="connectors.connector_deleted", target_id=str(connector.pk)).exists()


def test_listing_connectors_takes_a_constant_number_of_queries(
    owner_client, organization, django_assert_max_num_queries
):
    for _ in range(15):
        ConnectorFactory(organization=organization)

    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/connectors/?page_size=50")

    assert len(response.json()["results"]) == 15


def test_connectors_are_filtered_by_provider_and_status(owner_client, organization):
    ConnectorFactory(organization=organization, provider="github")
    ConnectorFactory(organization=organization, provider="slack", status=ConnectorStatus.FAILING)

    by_provider = owner_client.get("/api/v1/connectors/?provider=slack").json()["results"]
    by_status = owner_client.get("/api/v1/connectors/?status=failing").json()["results"]

    assert [c["provider"] for c in by_provider] == ["slack"]
    assert [c["status"] for c in by_status] == ["failing"]


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        (Role.VIEWER, "get", "", True),
        (Role.VIEWER, "get", "health/", True),
        (Role.VIEWER, "post", "test-connection/", False),
        (Role.OPERATOR, "post", "test-connection/", True),
        (Role.OPERATOR, "post", "pause/", False),
        (Role.OPERATOR, "delete", "", False),
        (Role.DEVELOPER, "post", "pause/", True),
    ],
)
def test_what_each_role_may_do(role, method, path, allowed, api_client, organization, make_member, github_sandbox):
    # given
    connector = ConnectorFactory(
        organization=organization, base_url=github_sandbox.url, settings=GITHUB, credentials={"token": github.TOKEN}
    )
    api_client.force_authenticate(make_member(organization, role))
    # when
    response = getattr(api_client, method)(f"/api/v1/connectors/{connector.pk}/{path}")
    # then
    assert (response.status_code < 400) is allowed, response.content
    if not allowed:
        assert response.status_code == 403


def test_a_viewer_cannot_create_a_connector(api_client, viewer, github_sandbox):
    api_client.force_authenticate(viewer)

    assert _create(api_client, github_sandbox).status_code == 403


def test_the_provider_catalogue_lists_every_provider_with_its_schemas(owner_client):
    catalogue = {p["kind"]: p for p in owner_client.get("/api/v1/connector-providers/").json()}

    assert set(catalogue) >= {
        "github",
        "gitlab",
        "jira",
        "servicenow",
        "salesforce",
        "azure_devops",
        "slack",
        "teams",
        "custom",
    }
    assert catalogue["jira"]["credentials_schema"]["required"] == ["api_token"]
    assert catalogue["slack"]["notification_channel"] is True
    assert catalogue["github_declarative"]["object_types"] == ["issue", "issue_comment"]


def test_deleting_a_connector_a_workflow_uses_answers_409_naming_the_workflows(owner_client, organization):
    # given a connector that two workflows read from or write to
    connector = ConnectorFactory(organization=organization)
    reading = IntegrationWorkflowFactory(organization=organization, name="Issues out", source_connector=connector)
    writing = IntegrationWorkflowFactory(organization=organization, name="Issues in", target_connector=connector)
    # when
    response = owner_client.delete(f"/api/v1/connectors/{connector.pk}/")
    # then
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/connector-in-use")
    assert "Issues in" in problem["detail"]
    assert "Issues out" in problem["detail"]
    assert sorted(error["message"] for error in problem["errors"]) == ["Issues in", "Issues out"]
    assert {error["id"] for error in problem["errors"]} == {str(reading.pk), str(writing.pk)}
    assert Connector.objects.filter(pk=connector.pk).exists()
    assert not AuditEvent.objects.filter(action="connectors.connector_deleted").exists()
