"""The Azure DevOps provider against the Azure DevOps sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.connectors.sandboxes import azure_devops as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
    ProviderCase,
    test_a_429_is_retried_after_the_time_retry_after_names,
    test_a_replayed_webhook_is_dropped,
    test_a_signed_webhook_is_accepted_and_processed,
    test_a_webhook_with_a_bad_signature_is_rejected,
    test_an_incremental_read_returns_only_what_changed_after_the_cursor,
    test_bad_credentials_fail_the_connection_test_and_every_read,
    test_changes_are_read_across_every_page,
    test_good_credentials_pass_the_connection_test,
    test_records_are_created_and_updated_on_the_vendor,
)

SETTINGS = {
    "organization": sandbox_module.ORGANIZATION,
    "project": sandbox_module.PROJECT,
    "team": sandbox_module.TEAM,
}
CREDENTIALS = {"personal_access_token": sandbox_module.PAT}


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        item = sandbox.add("Hooked")
        return sandbox.service_hook("workitem.updated", item["id"], secret)

    return ProviderCase(
        kind="azure_devops",
        sandbox="azure_devops",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {"personal_access_token": "expired-pat"},
        paged_type="work_item",
        seed=lambda sandbox, count, start: sandbox.seed(count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: str(sandbox.touch(102, **{"System.State": "Active"})["id"]),
        add_one=lambda sandbox: str(sandbox.add("Filed in Azure Boards")["id"]),
        create_type="work_item",
        create_data={"title": "Created through NOFX", "description": "<p>From Jira</p>", "tags": ["sync", "jira"]},
        update_data={"state": "Active", "priority": 1},
        updated_field=("state", "Active"),
        webhook=webhook,
        expected_refs=lambda sandbox: [{"object_type": "work_item", "id": "101", "deleted": False}],
    )


@pytest.fixture
def ado(sandbox_for, provider_factory):
    sandbox = sandbox_for("azure_devops")
    return sandbox, provider_factory("azure_devops", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


def test_every_call_names_the_api_version(ado):
    sandbox, provider = ado
    sandbox.add("Versioned")

    provider.read_changes("work_item", None)

    assert {call.arg("api-version") for call in sandbox.log} == {"7.1"}


def test_wiql_asks_for_time_precision_and_batches_the_ids(ado):
    # given
    sandbox, provider = ado
    sandbox.seed(3, start=sandbox.now() - timedelta(hours=1))
    first = provider.read_changes("work_item", None)
    # when
    provider.read_changes("work_item", first.next_cursor)
    # then
    wiql = sandbox.calls("POST", "/_apis/wit/wiql")[-1]
    assert wiql.arg("timePrecision") == "true"
    assert "[System.ChangedDate] >= '" in wiql.json()["query"]
    assert sandbox.calls("POST", "/workitemsbatch")[0].json()["ids"] == [101, 102, 103]


def test_writes_are_json_patch_documents(ado):
    sandbox, provider = ado

    record = provider.create("work_item", {"title": "Patched", "tags": ["a", "b"]})

    call = sandbox.calls("POST", "/_apis/wit/workitems/$Task")[0]
    assert call.header("content-type") == "application/json-patch+json"
    assert {"op": "add", "path": "/fields/System.Title", "value": "Patched"} in call.json()
    assert record.data["tags"] == ["a", "b"]


def test_iterations_of_the_team_are_read(ado):
    _sandbox, provider = ado

    page = provider.read_changes("iteration", None)

    assert [r.data["name"] for r in page.records] == ["Sprint 1", "Sprint 2", "Sprint 3", "Sprint 4"]
    assert [r.data["time_frame"] for r in page.records][2] == "current"
    assert page.next_cursor is None


def test_actions_comment_and_change_state(ado):
    sandbox, provider = ado
    item = sandbox.add("Act on me")

    comment = provider.invoke("add_comment", {"work_item_id": item["id"], "text": "Linked to INC0010001"})
    state = provider.invoke("set_state", {"work_item_id": item["id"], "state": "Resolved"})

    assert comment == {"id": 1}
    assert sandbox.calls("POST", "/comments")[0].arg("api-version") == "7.1-preview.4"
    assert state["state"] == "Resolved"


def test_a_deleted_work_item_is_reported_by_its_service_hook(
    ado, organization, loopback_allowed, client, django_capture_on_commit_callbacks
):
    from apps.connectors import services
    from apps.connectors.models import WebhookDelivery

    sandbox, _provider = ado
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="ADO",
        provider="azure_devops",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "x" * 24},
    )
    item = sandbox.add("Doomed")
    call = sandbox.service_hook("workitem.deleted", item["id"], "x" * 24)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/hooks/{connector.pk}/", data=call.body, content_type="application/json", headers=call.headers)

    assert WebhookDelivery.objects.get().affected == [
        {"object_type": "work_item", "id": str(item["id"]), "deleted": True}
    ]
