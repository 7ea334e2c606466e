"""What every provider must do against its vendor's sandbox.

Each provider's test module defines a `case` fixture (a `ProviderCase`) and imports these test
functions, so the same checks run for every vendor: authentication failure, pagination across at least
three pages, a 429 whose Retry-After is honoured, an incremental read, create and update, and webhooks
with a good, a bad and a replayed signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.connectors.errors import AuthenticationFailed
from apps.connectors.models import DeliveryStatus, WebhookDelivery
from apps.connectors.providers.base import Provider
from apps.connectors.sandboxes.server import Sandbox, WebhookCall

WEBHOOK_SECRET = "test-webhook-secret-7d3f"


@dataclass
class ProviderCase:
    kind: str
    sandbox: str
    settings: dict[str, Any]
    credentials: Callable[[Sandbox], dict[str, Any]]
    bad_credentials: Callable[[Sandbox], dict[str, Any]]
    paged_type: str
    seed: Callable[[Sandbox, int, datetime], None]
    change_one: Callable[[Sandbox], str]
    add_one: Callable[[Sandbox], str]
    create_type: str
    create_data: dict[str, Any]
    update_data: dict[str, Any]
    updated_field: tuple[str, Any]
    webhook: Callable[[Sandbox, str], WebhookCall]
    expected_refs: Callable[[Sandbox], list[dict[str, Any]]]
    # A validly signed delivery whose signed timestamp is too old (vendors that sign a timestamp).
    stale_webhook: Callable[[Sandbox, str], WebhookCall] | None = None
    webhook_credentials: Callable[[str], dict[str, Any]] = field(default=lambda secret: {"webhook_secret": secret})
    base_url: Callable[[Sandbox], str] = field(default=lambda sandbox: sandbox.url)
    page_size: int = 2
    manifest: dict[str, Any] | None = None


def _provider(case: ProviderCase, sandbox: Sandbox, factory: Callable[..., Provider], **overrides: Any) -> Provider:
    credentials = overrides.pop("credentials", None) or case.credentials(sandbox)
    return factory(
        case.kind,
        case.base_url(sandbox),
        settings=case.settings,
        credentials=credentials,
        manifest=case.manifest,
        **overrides,
    )


def _drain(
    provider: Provider, object_type: str, cursor: str | None, page_size: int
) -> tuple[list[Any], str | None, int]:
    records, calls = [], 0
    while True:
        calls += 1
        page = provider.read_changes(object_type, cursor, page_size=page_size)
        timestamps = [r.updated_at for r in page.records if r.updated_at]
        assert timestamps == sorted(timestamps), "a page's records come oldest first"
        records.extend(page.records)
        cursor = page.next_cursor
        if not page.has_more:
            return records, cursor, calls
        assert calls < 100, "read_changes never finished"


def test_bad_credentials_fail_the_connection_test_and_every_read(case, sandbox_for, provider_factory):
    # given
    sandbox = sandbox_for(case.sandbox)
    provider = _provider(case, sandbox, provider_factory, credentials=case.bad_credentials(sandbox))
    # when
    check = provider.test_connection()
    # then
    assert not check.ok
    assert check.error_code == "authentication_failed"
    with pytest.raises(AuthenticationFailed):
        provider.read_changes(case.paged_type, None, page_size=case.page_size)


def test_good_credentials_pass_the_connection_test(case, sandbox_for, provider_factory):
    provider = _provider(case, sandbox_for(case.sandbox), provider_factory)

    check = provider.test_connection()

    assert check.ok, check.detail


def test_changes_are_read_across_every_page(case, sandbox_for, provider_factory):
    # given seven records, read two at a time
    sandbox = sandbox_for(case.sandbox)
    case.seed(sandbox, 7, datetime.now(tz=UTC) - timedelta(days=2))
    provider = _provider(case, sandbox, provider_factory)
    # when
    records, _cursor, calls = _drain(provider, case.paged_type, None, case.page_size)
    # then every record came exactly once, over at least three pages
    ids = [r.id for r in records]
    assert len(ids) >= 7
    assert len(set(ids)) == len(ids)
    assert calls >= 3


def test_a_429_is_retried_after_the_time_retry_after_names(case, sandbox_for, provider_factory):
    # given
    sandbox = sandbox_for(case.sandbox)
    case.seed(sandbox, 1, datetime.now(tz=UTC) - timedelta(days=1))
    provider = _provider(case, sandbox, provider_factory)
    provider.test_connection()  # authenticate first (token exchanges are not the call under test)
    sandbox.fail_next(1, retry_after=0.2)
    before = len(sandbox.log)
    # when
    page = provider.read_changes(case.paged_type, None, page_size=case.page_size)
    # then
    assert page.records
    limited, retried = sandbox.log[before], sandbox.log[before + 1]
    assert retried.arrived_at - limited.arrived_at >= 0.2
    assert provider.http.stats.rate_limited_responses == 1


def test_an_incremental_read_returns_only_what_changed_after_the_cursor(case, sandbox_for, provider_factory):
    # given everything read once
    sandbox = sandbox_for(case.sandbox)
    case.seed(sandbox, 5, datetime.now(tz=UTC) - timedelta(days=2))
    provider = _provider(case, sandbox, provider_factory)
    _records, cursor, _calls = _drain(provider, case.paged_type, None, case.page_size)
    # when one record changes and one appears on the vendor's side
    changed, added = case.change_one(sandbox), case.add_one(sandbox)
    records, next_cursor, _calls = _drain(provider, case.paged_type, cursor, case.page_size)
    # then exactly those come back, and nothing more after them
    assert sorted(r.id for r in records) == sorted([changed, added])
    again, _cursor, _calls = _drain(provider, case.paged_type, next_cursor, case.page_size)
    assert again == []


def test_records_are_created_and_updated_on_the_vendor(case, sandbox_for, provider_factory):
    # given
    provider = _provider(case, sandbox_for(case.sandbox), provider_factory)
    # when
    created = provider.create(case.create_type, dict(case.create_data))
    updated = provider.update(case.create_type, created.id, dict(case.update_data))
    fetched = provider.get(case.create_type, created.id)
    # then
    name, value = case.updated_field
    assert created.id
    assert updated.id == created.id
    assert fetched.data[name] == value


def _post(client, connector, call: WebhookCall):
    headers = {k: v for k, v in call.headers.items() if k.lower() != "content-type"}
    url = f"/hooks/{connector.pk}/" + (f"?{call.query}" if call.query else "")
    return client.post(
        url, data=call.body, content_type=call.headers.get("Content-Type", "application/json"), headers=headers
    )


def test_a_signed_webhook_is_accepted_and_processed(
    case, webhook_connector, client, django_capture_on_commit_callbacks
):
    # given
    sandbox, connector = webhook_connector
    call = case.webhook(sandbox, WEBHOOK_SECRET)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, connector, call)
    # then
    assert response.status_code in (200, 202), response.content
    delivery = WebhookDelivery.objects.get(connector=connector)
    assert delivery.status == DeliveryStatus.PROCESSED, delivery.error
    assert delivery.affected == case.expected_refs(sandbox)


def test_a_webhook_with_a_bad_signature_is_rejected(
    case, webhook_connector, client, django_capture_on_commit_callbacks
):
    # given a delivery signed with another secret
    sandbox, connector = webhook_connector
    call = case.webhook(sandbox, "not-the-" + WEBHOOK_SECRET)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, connector, call)
    # then
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get(connector=connector)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.REJECTED, "bad_signature")
    assert delivery.affected == []


def test_a_replayed_webhook_is_dropped(case, webhook_connector, client, django_capture_on_commit_callbacks):
    # given a good delivery, accepted once
    sandbox, connector = webhook_connector
    call = case.webhook(sandbox, WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, connector, call)
    # when the very same delivery arrives again
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(client, connector, call)
    # then it is acknowledged but dropped: recorded, nothing queued
    assert response.status_code == 200
    replay = WebhookDelivery.objects.filter(connector=connector).order_by("-received_at", "-created_at").first()
    assert replay.status == DeliveryStatus.DUPLICATE
    assert callbacks == []
    assert WebhookDelivery.objects.filter(connector=connector, status=DeliveryStatus.PROCESSED).count() == 1


def test_a_webhook_signed_too_long_ago_is_rejected(case, webhook_connector, client):
    """Only for vendors whose signature covers a timestamp (import it in those modules alone)."""
    assert case.stale_webhook is not None
    # given
    sandbox, connector = webhook_connector
    call = case.stale_webhook(sandbox, WEBHOOK_SECRET)
    # when
    response = _post(client, connector, call)
    # then
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get(connector=connector)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.REJECTED, "stale_timestamp")
