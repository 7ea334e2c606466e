"""The Salesforce provider against the Salesforce sandbox (OAuth2, SOQL, sObjects, Outbound Messages)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from apps.connectors.sandboxes import salesforce as sandbox_module
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

CREDENTIALS = {
    "client_id": sandbox_module.CLIENT_ID,
    "client_secret": sandbox_module.CLIENT_SECRET,
    "refresh_token": sandbox_module.REFRESH_TOKEN,
}
SETTINGS = {"organization_id": sandbox_module.ORGANIZATION_ID, "external_id_field": "NOFX_Id__c"}


def _first_lead(sandbox):
    return next(iter(sandbox.records["Lead"]))


@pytest.fixture
def case() -> ProviderCase:
    def webhook(sandbox, secret):
        lead = sandbox.add("Lead", LastName="Hooked", Company="Acme")
        return sandbox.outbound_message("Lead", [lead["Id"]], secret)

    return ProviderCase(
        kind="salesforce",
        sandbox="salesforce",
        settings=SETTINGS,
        credentials=lambda sandbox: CREDENTIALS,
        bad_credentials=lambda sandbox: {**CREDENTIALS, "refresh_token": "revoked"},
        paged_type="Lead",
        seed=lambda sandbox, count, start: sandbox.seed_leads(count, start=start, step=timedelta(seconds=2)),
        change_one=lambda sandbox: sandbox.touch("Lead", _first_lead(sandbox), Status="Working")["Id"],
        add_one=lambda sandbox: sandbox.add("Lead", LastName="New", Company="Globex")["Id"],
        create_type="Opportunity",
        create_data={"Name": "Big deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 50000},
        update_data={"StageName": "Closed Won"},
        updated_field=("StageName", "Closed Won"),
        webhook=webhook,
        expected_refs=lambda sandbox: [{"object_type": "Lead", "id": _first_lead(sandbox), "deleted": False}],
    )


@pytest.fixture
def salesforce(sandbox_for, provider_factory):
    sandbox = sandbox_for("salesforce")
    return sandbox, provider_factory("salesforce", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)


def test_the_first_call_fetches_a_token_and_goes_to_the_instance_it_names(salesforce):
    sandbox, provider = salesforce

    assert provider.test_connection().ok

    assert sandbox.token_requests == 1
    assert provider.credentials["instance_url"] == sandbox.url
    assert provider.credentials["access_token"]


def test_an_expired_session_is_refreshed_once_and_the_call_retried(salesforce):
    # given a working session that then expires
    sandbox, provider = salesforce
    provider.test_connection()
    sandbox.expire_sessions()
    # when
    page = provider.read_changes("Lead", None)
    # then
    assert page.records == []
    assert sandbox.token_requests == 2
    assert provider.http.stats.token_refreshes == 2


def test_a_rotated_refresh_token_is_written_back(salesforce):
    sandbox, provider = salesforce
    sandbox.rotate_refresh_tokens = True

    provider.test_connection()

    stored = provider.connection.credentials_store.load()
    assert stored["refresh_token"].startswith("5Aep861rotated.")
    assert stored["refresh_token"] in sandbox.refresh_tokens
    assert sandbox_module.REFRESH_TOKEN not in sandbox.refresh_tokens


def test_concurrent_workers_refresh_the_token_only_once(sandbox_for, loopback_allowed):
    # given one connection used by four workers at the same moment, with no token yet
    from apps.connectors.providers import build_provider
    from tests.connectors.conftest import make_connection

    sandbox = sandbox_for("salesforce")
    connection = make_connection("salesforce", sandbox.url, settings=SETTINGS, credentials=CREDENTIALS)
    providers = [build_provider(connection) for _ in range(4)]
    barrier = threading.Barrier(4)
    failures = []

    def work(provider):
        barrier.wait()
        try:
            provider.ping()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in providers]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # then
    assert failures == []
    assert sandbox.token_requests == 1
    for provider in providers:
        provider.close()


def test_deleted_records_come_back_from_query_all_marked_deleted(salesforce):
    # given a lead read once, then deleted in Salesforce
    sandbox, provider = salesforce
    lead = sandbox.add("Lead", LastName="Short", Company="Lived")
    first = provider.read_changes("Lead", None)
    sandbox.touch("Lead", lead["Id"], IsDeleted=True)
    # when
    second = provider.read_changes("Lead", first.next_cursor)
    # then
    assert [(r.id, r.deleted) for r in second.records] == [(lead["Id"], True)]


def test_changes_follow_the_query_locator_across_batches(salesforce):
    sandbox, provider = salesforce
    sandbox.seed_leads(5, start=sandbox.now() - timedelta(hours=1))

    first = provider.read_changes("Lead", None, page_size=2)
    second = provider.read_changes("Lead", first.next_cursor, page_size=2)

    assert sandbox.calls("GET", "/services/data/v60.0/queryAll/01g")
    assert first.has_more
    assert second.has_more
    assert len({r.id for r in first.records + second.records}) == 4


def test_a_create_with_an_idempotency_key_is_an_upsert_that_cannot_duplicate(salesforce):
    sandbox, provider = salesforce
    data = {"LastName": "Once", "Company": "Idempotent Inc"}

    first = provider.create("Lead", data, idempotency_key="wf1-rec42")
    second = provider.create("Lead", data, idempotency_key="wf1-rec42")

    assert first.id == second.id
    assert len(sandbox.records["Lead"]) == 1
    assert sandbox.records["Lead"][first.id]["NOFX_Id__c"] == "wf1-rec42"


def test_a_missing_required_field_is_an_invalid_request(salesforce):
    from apps.connectors.errors import InvalidRequest

    _sandbox, provider = salesforce

    with pytest.raises(InvalidRequest) as caught:
        provider.create("Lead", {"LastName": "No company"})
    assert caught.value.body[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_the_daily_allocation_in_sforce_limit_info_feeds_the_budget(salesforce):
    from apps.connectors.rate_budget import shared_budget

    _sandbox, provider = salesforce

    provider.test_connection()

    snapshot = shared_budget().snapshot(provider.connection.id)
    assert snapshot["limit"] == sandbox_module.API_LIMIT
    assert 0 < snapshot["remaining"] < sandbox_module.API_LIMIT


def test_an_outbound_message_from_another_org_is_refused(sandbox_for, organization, loopback_allowed, client):
    from apps.connectors import services
    from apps.connectors.models import WebhookDelivery

    sandbox = sandbox_for("salesforce")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="SF",
        provider="salesforce",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "w" * 20},
    )
    lead = sandbox.add("Lead", LastName="X", Company="Y")
    call = sandbox.outbound_message("Lead", [lead["Id"]], "w" * 20, organization_id="00D5e000009ZZZZEAS")

    response = client.post(f"/hooks/{connector.pk}/?{call.query}", data=call.body, content_type="text/xml")

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().reason == "wrong_organization"


def test_an_accepted_outbound_message_is_acknowledged_in_soap(sandbox_for, organization, loopback_allowed, client):
    from apps.connectors import services

    sandbox = sandbox_for("salesforce")
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name="SF",
        provider="salesforce",
        base_url=sandbox.url,
        settings_=SETTINGS,
        credentials={**CREDENTIALS, "webhook_secret": "w" * 20},
    )
    lead = sandbox.add("Lead", LastName="X", Company="Y")
    call = sandbox.outbound_message("Lead", [lead["Id"]], "w" * 20)

    response = client.post(f"/hooks/{connector.pk}/?{call.query}", data=call.body, content_type="text/xml")

    assert response.status_code == 200
    assert b"<Ack>true</Ack>" in response.content
