"""The ServiceNow provider against the ServiceNow sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.sandboxes import servicenow as sandbox_module
from tests.connectors.providers.conformance import (  # noqa: F401 - shared tests collected here
    ProviderCase,
    test_a_429_is_retried_after_the_time_retry_after_names,
    test_a_replayed_webhook_is_dropped,
    test_a_signed_webhook_is_accepted_and_processed,
    test_a_webhook_signed_too_long_ago_is_rejected,
    test_a_webhook_with_a_bad_signature_is_rejected,
    test_an_incremental_read_returns_only_what_changed_after_the_cursor,
    test_bad_credentials_fail_the_connection_test_and_every_read,
    test_changes_are_read_across_every_page,
    test_good_credentials_pass_the_connection_test,
    test_records_are_created_and_updated_on_the_vendor,
)

SETTINGS = {"username": sandbox_module.USERNAME}
CREDENTIALS = {"password": sandbox_module.PASSWORD}


def _first(sandbox, table="incident"):
    return next(iter(sandbox.tables[table]))


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        record = sandbox.add("incident", "Printer on fire")
        return sandbox.signed_webhook("incident", record["sys_id"], "update", secret)

    def stale_webhook(sandbox, secret):
        record = sandbox.add("incident", "Old news")
        return sandbox.signed_webhook(
            "incident", record["sys_id"], "update", secret, sent_at=datetime.now(tz=UTC) - timedelta(minutes=10)
        )

    return ProviderCase(
        kind="servicenow",
        sandbox="servicenow",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {"password": "wrong"},
        paged_type="incident",
        seed=lambda sandbox, count, start: sandbox.seed("incident", count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: sandbox.touch("incident", _first(sandbox), state="2")["sys_id"],
        add_one=lambda sandbox: sandbox.add("incident", "New one")["sys_id"],
        create_type="change_request",
        create_data={"short_description": "Patch the fleet", "description": "From NOFX", "priority": "3"},
        update_data={"state": "3", "priority": "2"},
        updated_field=("priority", "2"),
        webhook=webhook,
        stale_webhook=stale_webhook,
        webhook_credentials=lambda secret: {"webhook_secret": secret},
        expected_refs=lambda sandbox: [{"object_type": "incident", "id": _first(sandbox), "deleted": False}],
    )


@pytest.fixture
def servicenow(sandbox_for, provider_factory):
    sandbox = sandbox_for("servicenow")
    return sandbox, provider_factory("servicenow", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


def test_changes_are_asked_for_with_an_encoded_query_ordered_by_update_time(servicenow):
    # given
    sandbox, provider = servicenow
    sandbox.add("incident", "One", updated=datetime(2026, 2, 1, 9, 30, 15, tzinfo=UTC))
    first = provider.read_changes("incident", None)
    # when
    provider.read_changes("incident", first.next_cursor)
    # then
    call = sandbox.calls("GET", "/api/now/table/incident")[-1]
    assert call.arg("sysparm_query") == "sys_updated_on>=2026-02-01 09:30:15^ORDERBYsys_updated_on^ORDERBYsys_id"
    assert call.arg("sysparm_display_value") == "false"


def test_a_work_note_is_journaled_on_the_record(servicenow):
    sandbox, provider = servicenow
    incident = sandbox.add("incident", "Needs a note")

    result = provider.invoke(
        "add_work_note", {"table": "incident", "sys_id": incident["sys_id"], "note": "Linked to NOFX-1"}
    )

    assert result["sys_id"] == incident["sys_id"]
    assert sandbox.journal == [{"element_id": incident["sys_id"], "name": "incident", "value": "Linked to NOFX-1"}]


def test_an_incident_opened_by_an_action_gets_its_number(servicenow):
    _sandbox, provider = servicenow

    result = provider.invoke("create_incident", {"short_description": "VPN down", "urgency": "1"})

    assert result["number"].startswith("INC")


def test_a_data_policy_refusal_is_an_access_error_with_the_vendor_s_detail(servicenow):
    from apps.connectors.errors import AccessDenied

    _sandbox, provider = servicenow

    with pytest.raises(AccessDenied) as caught:
        provider.create("incident", {"description": "no short description"})
    assert "mandatory" in caught.value.body["error"]["detail"]


def test_a_deleted_record_is_reported_as_such_by_its_webhook(
    servicenow, organization, loopback_allowed, client, django_capture_on_commit_callbacks
):
    from apps.connectors import services
    from apps.connectors.models import WebhookDelivery

    sandbox, _provider = servicenow
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="SN",
        provider="servicenow",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "s" * 20},
    )
    record = sandbox.add("incident", "Gone soon")
    call = sandbox.signed_webhook("incident", record["sys_id"], "delete", "s" * 20)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/hooks/{connector.pk}/", data=call.body, content_type="application/json", headers=call.headers)

    assert WebhookDelivery.objects.get().affected == [
        {"object_type": "incident", "id": record["sys_id"], "deleted": True}
    ]
