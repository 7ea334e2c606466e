"""Declarative connectors: the published schema, validation errors, and the interpreter against sandboxes."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from apps.connectors import services
from apps.connectors.errors import AuthenticationFailed
from apps.connectors.manifests import MANIFEST_SCHEMA_PATH, load_builtin_manifest, parse_manifest, validate_manifest
from apps.connectors.sandboxes import gitlab, servicenow, slack, teams
from apps.core.exceptions import BusinessRuleViolation
from tests.factories.connectors import MINIMAL_MANIFEST


def test_the_schema_is_served_as_committed(client):
    response = client.get("/schemas/connector-manifest.schema.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    assert json.loads(b"".join(response.streaming_content)) == json.loads(MANIFEST_SCHEMA_PATH.read_text())


def test_the_built_in_github_manifest_is_valid():
    assert validate_manifest(load_builtin_manifest("github")) == []


def test_a_minimal_manifest_is_valid():
    assert validate_manifest(MINIMAL_MANIFEST) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.pop("auth"), "auth"),
        (lambda m: m.update(auth={"type": "api_key", "value": "{{ credentials.key }}"}), "auth"),
        (lambda m: m.update(name="Not A Slug"), "name"),
        (
            lambda m: m["streams"][0].update(pagination={"type": "cursor", "cursor_param": "c"}),
            "streams.0.pagination.cursor_path",
        ),
        (lambda m: m["streams"][0].update(incremental={"param": "since"}), "streams.0.incremental.cursor_field"),
        (lambda m: m["streams"][0]["request"].update(method="TRACE"), "streams.0.request.method"),
        (lambda m: m.update(python="import os"), None),
    ],
    ids=[
        "no-auth",
        "api-key-without-place",
        "bad-name",
        "cursor-without-path",
        "incremental-without-field",
        "bad-method",
        "unknown-key",
    ],
)
def test_an_invalid_manifest_names_what_is_wrong(change, field):
    # given
    document = copy.deepcopy(MINIMAL_MANIFEST)
    change(document)
    # when
    errors = validate_manifest(document)
    # then
    assert errors
    assert field in [e["field"] for e in errors]


def test_templates_may_only_name_known_roots():
    document = copy.deepcopy(MINIMAL_MANIFEST)
    document["streams"][0]["request"]["path"] = "/things/{{ os.environ.HOME }}"

    errors = validate_manifest(document)

    assert [e["code"] for e in errors] == ["unknown_template_root"]


def test_two_streams_with_one_name_are_refused():
    document = copy.deepcopy(MINIMAL_MANIFEST)
    document["streams"].append(copy.deepcopy(document["streams"][0]))

    assert [e["code"] for e in validate_manifest(document)] == ["duplicate"]


def test_a_yaml_manifest_is_read_without_running_anything():
    with pytest.raises(Exception, match="could not determine a constructor"):
        parse_manifest("name: !!python/object/apply:os.system ['true']")


def test_saving_an_invalid_manifest_is_refused_with_every_error(organization):
    with pytest.raises(BusinessRuleViolation) as caught:
        services.save_connector_manifest(organization=organization, actor=None, document={"name": "x"})
    assert len(caught.value.errors) >= 4  # type: ignore[attr-defined]


# -- The interpreter against other vendors' sandboxes: every pagination style and auth type ----------------------


def _custom(provider_factory, sandbox, document, *, settings=None, credentials=None):
    return provider_factory(
        "custom", sandbox.url, settings=settings or {}, credentials=credentials or {}, manifest=document
    )


def _drain(provider, stream, page_size):
    records, cursor, calls = [], None, 0
    while True:
        calls += 1
        page = provider.read_changes(stream, cursor, page_size=page_size)
        records += page.records
        cursor = page.next_cursor
        if not page.has_more:
            return records, cursor, calls


GITLAB_MANIFEST = {
    "manifest_version": 1,
    "name": "gitlab-issues",
    "title": "GitLab issues (page pagination)",
    "base_url": "https://gitlab.com",
    "auth": {"type": "api_key", "header": "PRIVATE-TOKEN", "value": "{{ credentials.token }}"},
    "check": {"request": {"method": "GET", "path": "/api/v4/projects/{{ settings.project }}"}},
    "streams": [
        {
            "name": "issue",
            "title": "Issues",
            "primary_key": "iid",
            "schema": {"type": "object"},
            "request": {
                "method": "GET",
                "path": "/api/v4/projects/{{ settings.project }}/issues",
                "params": {"order_by": "updated_at", "sort": "asc"},
            },
            "fields": {"iid": "iid", "title": "title", "updated_at": "updated_at", "labels": "labels"},
            "pagination": {
                "type": "page",
                "page_param": "page",
                "page_size": 2,
                "page_size_param": "per_page",
                "next_page_header": "X-Next-Page",
            },
            "incremental": {"cursor_field": "updated_at", "param": "updated_after", "format": "iso8601_millis"},
            "create": {
                "request": {
                    "method": "POST",
                    "path": "/api/v4/projects/{{ settings.project }}/issues",
                    "body": {"title": "{{ record.title }}", "labels": "{{ record.labels | join_comma }}"},
                }
            },
        }
    ],
}


def test_page_pagination_with_a_next_page_header_and_an_api_key(sandbox_for, provider_factory):
    # given
    sandbox = sandbox_for("gitlab")
    sandbox.seed_issues(5, start=sandbox.now() - timedelta(days=1))
    provider = _custom(
        provider_factory,
        sandbox,
        GITLAB_MANIFEST,
        settings={"project": gitlab.PROJECT_ID},
        credentials={"token": gitlab.TOKEN},
    )
    # when
    records, _cursor, calls = _drain(provider, "issue", 2)
    # then
    assert [r.id for r in records] == ["1", "2", "3", "4", "5"]
    assert calls >= 3
    assert {c.header("private-token") for c in sandbox.log} == {gitlab.TOKEN}


def test_an_incremental_manifest_read_returns_only_changes(sandbox_for, provider_factory):
    sandbox = sandbox_for("gitlab")
    sandbox.seed_issues(3, start=sandbox.now() - timedelta(days=1))
    provider = _custom(
        provider_factory,
        sandbox,
        GITLAB_MANIFEST,
        settings={"project": gitlab.PROJECT_ID},
        credentials={"token": gitlab.TOKEN},
    )
    _records, cursor, _calls = _drain(provider, "issue", 2)

    sandbox.touch_issue(2, title="Changed")
    page = provider.read_changes("issue", cursor, page_size=2)

    assert [(r.id, r.data["title"]) for r in page.records] == [("2", "Changed")]
    assert sandbox.calls("GET", "/issues")[-1].arg("updated_after")


def test_a_filtered_template_shapes_the_request_body(sandbox_for, provider_factory):
    sandbox = sandbox_for("gitlab")
    provider = _custom(
        provider_factory,
        sandbox,
        GITLAB_MANIFEST,
        settings={"project": gitlab.PROJECT_ID},
        credentials={"token": gitlab.TOKEN},
    )

    record = provider.create("issue", {"title": "Labelled", "labels": ["a", "b"]})

    assert sandbox.calls("POST", "/issues")[0].json() == {"title": "Labelled", "labels": "a,b"}
    assert record.data["labels"] == ["a", "b"]


SLACK_MANIFEST = {
    "manifest_version": 1,
    "name": "slack-channels",
    "title": "Slack channels (cursor pagination)",
    "base_url": "https://slack.com",
    "auth": {"type": "bearer", "token": "{{ credentials.token }}"},
    "errors": [
        {"when": {"status": 200, "body_path": "error", "equals": "invalid_auth"}, "outcome": "unauthorized"},
        {"when": {"status": 200, "body_path": "ok", "equals": False}, "outcome": "invalid"},
    ],
    "check": {"request": {"method": "POST", "path": "/api/auth.test", "body": {}}},
    "streams": [
        {
            "name": "channel",
            "title": "Channels",
            "primary_key": "id",
            "schema": {"type": "object"},
            "request": {"method": "GET", "path": "/api/conversations.list"},
            "record_selector": {"path": "channels"},
            "fields": {"id": "id", "name": {"path": "name", "transform": "upper"}},
            "pagination": {
                "type": "cursor",
                "cursor_param": "cursor",
                "cursor_path": "response_metadata.next_cursor",
                "page_size": 2,
                "page_size_param": "limit",
            },
        }
    ],
}


def test_cursor_pagination_from_a_body_path(sandbox_for, provider_factory):
    sandbox = sandbox_for("slack")
    for n in range(3):
        sandbox.add_channel(f"C0MORE{n}", f"more-{n}")
    provider = _custom(provider_factory, sandbox, SLACK_MANIFEST, credentials={"token": slack.BOT_TOKEN})

    records, cursor, calls = _drain(provider, "channel", 2)

    assert len(records) == 5
    assert calls == 3
    assert cursor is None
    assert "GENERAL" in [r.data["name"] for r in records]


def test_error_rules_read_the_body_of_a_200(sandbox_for, provider_factory):
    sandbox = sandbox_for("slack")
    provider = _custom(provider_factory, sandbox, SLACK_MANIFEST, credentials={"token": "xoxb-wrong"})

    check = provider.test_connection()

    assert check.error_code == "authentication_failed"
    with pytest.raises(AuthenticationFailed):
        provider.read_changes("channel")


SERVICENOW_MANIFEST = {
    "manifest_version": 1,
    "name": "servicenow-problems",
    "title": "ServiceNow incidents (offset pagination)",
    "base_url": "https://example.service-now.com",
    "auth": {"type": "basic", "username": "{{ settings.username }}", "password": "{{ credentials.password }}"},
    "check": {"request": {"method": "GET", "path": "/api/now/table/incident", "params": {"sysparm_limit": 1}}},
    "streams": [
        {
            "name": "incident",
            "title": "Incidents",
            "primary_key": "sys_id",
            "schema": {"type": "object"},
            "request": {
                "method": "GET",
                "path": "/api/now/table/incident",
                "params": {"sysparm_query": "ORDERBYsys_updated_on^ORDERBYsys_id"},
            },
            "record_selector": {"path": "result"},
            "pagination": {
                "type": "offset",
                "offset_param": "sysparm_offset",
                "page_size": 2,
                "page_size_param": "sysparm_limit",
            },
        }
    ],
}


def test_offset_pagination_with_basic_auth(sandbox_for, provider_factory):
    sandbox = sandbox_for("servicenow")
    sandbox.seed("incident", 5, start=sandbox.now() - timedelta(days=1))
    provider = _custom(
        provider_factory,
        sandbox,
        SERVICENOW_MANIFEST,
        settings={"username": servicenow.USERNAME},
        credentials={"password": servicenow.PASSWORD},
    )

    records, _cursor, _calls = _drain(provider, "incident", 2)

    assert len({r.id for r in records}) == 5
    assert [c.arg("sysparm_offset") for c in sandbox.calls("GET", "/incident")] == ["0", "2", "4"]


def test_oauth2_client_credentials_fetch_and_reuse_a_token(sandbox_for, provider_factory):
    sandbox = sandbox_for("teams")
    document = {
        "manifest_version": 1,
        "name": "graph-channels",
        "title": "Graph channels (client credentials)",
        "base_url": "https://graph.microsoft.com",
        "auth": {
            "type": "oauth2_client_credentials",
            "token_url": f"{sandbox.url}/{{{{ settings.tenant }}}}/oauth2/v2.0/token",
            "scope": "https://graph.microsoft.com/.default",
        },
        "check": {"request": {"method": "GET", "path": "/v1.0/teams/{{ settings.team }}/channels"}},
        "streams": [
            {
                "name": "channel",
                "title": "Channels",
                "primary_key": "id",
                "schema": {"type": "object"},
                "request": {"method": "GET", "path": "/v1.0/teams/{{ settings.team }}/channels"},
                "record_selector": {"path": "value"},
            }
        ],
    }
    provider = _custom(
        provider_factory,
        sandbox,
        document,
        settings={"tenant": teams.TENANT_ID, "team": teams.TEAM_ID},
        credentials={"client_id": teams.CLIENT_ID, "client_secret": teams.CLIENT_SECRET},
    )

    assert provider.test_connection().ok
    page = provider.read_changes("channel")

    assert len(page.records) == 2
    assert sandbox.token_requests == 1
    assert sandbox.calls("POST", "/oauth2/v2.0/token")[0].form()["grant_type"] == "client_credentials"


def test_a_custom_connector_is_created_through_the_api_from_a_manifest(owner_client, sandbox_for, loopback_allowed):
    # given
    sandbox = sandbox_for("gitlab")
    manifest = owner_client.post("/api/v1/connector-manifests/", {"document": GITLAB_MANIFEST}, format="json")
    assert manifest.status_code == 201, manifest.content
    # when
    created = owner_client.post(
        "/api/v1/connectors/",
        {
            "name": "Our GitLab",
            "provider": "custom",
            "manifest": manifest.json()["id"],
            "base_url": sandbox.url,
            "settings": {"project": gitlab.PROJECT_ID},
            "credentials": {"token": gitlab.TOKEN},
        },
        format="json",
    )
    # then
    assert created.status_code == 201, created.content
    connector_id = created.json()["id"]
    types = owner_client.get(f"/api/v1/connectors/{connector_id}/object-types/").json()
    assert [t["name"] for t in types] == ["issue"]
    assert types[0]["operations"] == ["read", "create"]
    assert owner_client.post(f"/api/v1/connectors/{connector_id}/test-connection/").json()["ok"] is True


def test_a_manifest_in_use_cannot_be_deleted(owner_client, sandbox_for, loopback_allowed):
    sandbox = sandbox_for("gitlab")
    manifest = owner_client.post("/api/v1/connector-manifests/", {"document": GITLAB_MANIFEST}, format="json").json()
    owner_client.post(
        "/api/v1/connectors/",
        {
            "name": "GL",
            "provider": "custom",
            "manifest": manifest["id"],
            "base_url": sandbox.url,
            "settings": {"project": 1},
            "credentials": {"token": "t"},
        },
        format="json",
    )

    response = owner_client.delete(f"/api/v1/connector-manifests/{manifest['id']}/")

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "manifest_in_use"


@pytest.mark.parametrize("document", [None, "name: gitlab", ["streams"]])
def test_the_manifest_api_refuses_a_document_that_is_not_an_object(owner_client, document):
    # when
    response = owner_client.post("/api/v1/connector-manifests/", {"document": document}, format="json")
    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "document"


def test_the_manifest_api_takes_json_only(owner_client):
    # when a manifest arrives form-encoded, which cannot carry a nested document
    response = owner_client.post("/api/v1/connector-manifests/", {"document": "{}"}, format="multipart")
    # then
    assert response.status_code == 415
