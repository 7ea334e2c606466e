"""Usage records are written in batches off the request path, and none is lost when a write fails."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.utils import timezone

from apps.gateway.models import UsageRecord
from apps.gateway.usage import UsageWriter
from tests.factories.gateway import ApiClientFactory

# The writer's thread has its own database connection: the rows it needs must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batching(settings) -> None:
    settings.GATEWAY_USAGE_FLUSH_SECONDS = 3600  # nothing written by the clock during a test
    settings.GATEWAY_USAGE_FLUSH_BATCH = 500


@pytest.fixture
def writer(batching) -> Iterator[UsageWriter]:
    writer = UsageWriter()
    yield writer
    writer.close()


def _record(client, operation: str = "api:team-list") -> UsageRecord:
    return UsageRecord(
        occurred_at=timezone.now(),
        organization_id=client.organization_id,
        client_id=client.pk,
        credential="api_key",
        key_id="k",
        method="GET",
        operation=operation,
        status_code=200,
        latency_us=900,
        bytes_in=0,
        bytes_out=120,
    )


def _wait_for_rows(count: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = UsageRecord.objects.count()
        if found >= count:
            return found
        time.sleep(0.02)
    return UsageRecord.objects.count()


def test_a_call_hands_its_record_over_without_writing_it(writer):
    # given
    client = ApiClientFactory()
    # when
    writer.add(_record(client))
    # then
    assert writer.pending == 1
    assert not UsageRecord.objects.exists()


def test_a_flush_writes_every_waiting_record_in_order(writer):
    # given
    client = ApiClientFactory()
    for operation in ("first", "second", "third"):
        writer.add(_record(client, operation))
    # when
    written = writer.flush()
    # then
    assert written == 3
    assert writer.pending == 0
    assert list(UsageRecord.objects.order_by("id").values_list("operation", flat=True)) == ["first", "second", "third"]


def test_a_full_batch_is_written_at_once_by_the_background_thread(writer, settings):
    # given
    settings.GATEWAY_USAGE_FLUSH_BATCH = 3
    client = ApiClientFactory()
    # when
    for _ in range(3):
        writer.add(_record(client))
    # then: written without anyone calling flush, long before the hour-long interval
    assert _wait_for_rows(3) == 3


def test_the_background_thread_writes_what_gathered_every_interval(writer, settings):
    # given
    settings.GATEWAY_USAGE_FLUSH_SECONDS = 0.05
    client = ApiClientFactory()
    # when
    writer.add(_record(client))
    # then
    assert _wait_for_rows(1) == 1


@pytest.mark.postgres
def test_records_the_database_refused_are_kept_for_the_next_attempt(writer, table_down):
    # given
    client = ApiClientFactory()
    writer.add(_record(client, "kept"))
    # when the database refuses the first write, and takes the next one
    with table_down(UsageRecord):
        failed = writer.flush()
    writer.add(_record(client, "later"))
    written = writer.flush()
    # then
    assert failed == 0
    assert written == 2
    assert list(UsageRecord.objects.order_by("id").values_list("operation", flat=True)) == ["kept", "later"]


@pytest.mark.postgres
def test_past_the_cap_the_oldest_refused_records_are_dropped_and_logged(writer, table_down, settings, caplog):
    # given
    settings.GATEWAY_USAGE_MAX_PENDING = 2
    client = ApiClientFactory()
    for operation in ("oldest", "middle", "newest"):
        writer.add(_record(client, operation))
    # when
    with table_down(UsageRecord):
        writer.flush()
    # then
    assert [r.operation for r in writer._pending] == ["middle", "newest"]
    assert "Dropped the 1 oldest usage records" in caplog.text
    writer._pending.clear()  # nothing for the fixture's closing flush to write


def test_without_a_flush_interval_each_record_is_written_during_its_call(settings):
    # given
    settings.GATEWAY_USAGE_FLUSH_SECONDS = 0
    client = ApiClientFactory()
    immediate = UsageWriter()
    # when
    immediate.add(_record(client))
    # then
    assert UsageRecord.objects.count() == 1
    assert immediate.pending == 0


def test_a_record_the_database_can_never_take_does_not_hold_up_the_others(writer, caplog):
    # given a batch holding one record no database would take
    client = ApiClientFactory()
    writer.add(_record(client, "before"))
    broken = _record(client, "broken")
    broken.status_code = -1
    writer.add(broken)
    writer.add(_record(client, "after"))
    # when
    written = writer.flush()
    # then
    assert written == 2
    assert list(UsageRecord.objects.order_by("id").values_list("operation", flat=True)) == ["before", "after"]
    assert writer.pending == 0
    assert "Dropped a usage record" in caplog.text


def test_closing_stops_the_thread_and_writes_what_is_left(batching):
    # given
    client = ApiClientFactory()
    closing = UsageWriter()
    closing.add(_record(client))
    thread = closing._thread
    # when
    closing.close()
    # then
    assert thread is not None
    assert not thread.is_alive()
    assert UsageRecord.objects.count() == 1
