"""Recording every gateway call, and rolling the records up per client per day.

Why a narrow append-only table with a daily roll-up rather than declarative partitioning: the suite and
`make run` also run on SQLite, where partitions do not exist; the raw rows are only ever appended in time
order, so on PostgreSQL a BRIN index on `occurred_at` (a few pages for millions of rows, added by the
migration) serves the roll-up's and the purge's time-range scans; and everything that people read
(pages, the summary API, billing) reads `UsageDay`, a table that grows by one row per client per day.
Raw rows are kept for `GATEWAY_USAGE_RETENTION_DAYS` and then deleted in batches by a periodic task.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.core.batching import BatchWriter, insert_instances
from apps.core.logging import current_request_id
from apps.gateway.models import UsageDay, UsageRecord
from apps.gateway.principals import GatewayCredential

PURGE_BATCH = 10_000


def record_usage(
    *,
    credential: GatewayCredential,
    request: HttpRequest,
    response: HttpResponse,
    operation: str,
    latency_us: int,
) -> None:
    """Record one call: handed to this process's writer, which writes it within a second (see UsageWriter)."""
    request_id = current_request_id()
    writer.add(
        UsageRecord(
            occurred_at=timezone.now(),
            organization_id=credential.organization.pk,
            client_id=credential.client.pk,
            credential=credential.kind,
            key_id=credential.key_id,
            method=(request.method or "")[:8],
            operation=operation[:160],
            status_code=response.status_code,
            latency_us=max(0, latency_us),
            bytes_in=int(request.META.get("CONTENT_LENGTH") or 0),
            bytes_out=0 if response.streaming else len(response.content),
            request_id="" if request_id == "-" else request_id,
        )
    )


def write_usage_records(records: list[UsageRecord]) -> None:
    """Append records in one INSERT, committed without waiting for the disk on PostgreSQL."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        insert_instances(records)
        return
    # The writer does not wait for the WAL to reach the disk: a crash may lose the last few milliseconds of
    # records (never corrupt them), which metering can afford.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        insert_instances(records)


class UsageWriter(BatchWriter[UsageRecord]):
    """This process's usage records on their way to the table (see apps.core.batching).

    Writing one row per call cost every call a transaction of four round trips; the `GATEWAY_USAGE_*`
    settings say how often the thread writes, how large a batch triggers a write at once, and how many
    refused records are kept for the next attempt.
    """

    settings_prefix = "GATEWAY_USAGE"
    noun = "usage record"

    def write(self, batch: list[UsageRecord]) -> None:
        write_usage_records(batch)

    def describe(self, row: UsageRecord) -> str:
        return f"of client {row.client_id}"


writer = UsageWriter()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def roll_up_usage(*, day: date) -> int:
    """(Re)compute every client's `UsageDay` for one UTC day from the raw records; safe to run again."""
    start, end = _day_bounds(day)
    rows = (
        UsageRecord.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("organization_id", "client_id")
        .annotate(
            calls=Count("id"),
            client_errors=Count("id", filter=Q(status_code__gte=400, status_code__lt=500) & ~Q(status_code=429)),
            throttled=Count("id", filter=Q(status_code=429)),
            server_errors=Count("id", filter=Q(status_code__gte=500)),
            bytes_in=Sum("bytes_in"),
            bytes_out=Sum("bytes_out"),
            latency_us_total=Sum("latency_us"),
            latency_us_max=Max("latency_us"),
        )
        .order_by()
    )
    now = timezone.now()
    days = [UsageDay(day=day, rolled_up_at=now, **row) for row in rows]
    fields = [
        "calls",
        "client_errors",
        "throttled",
        "server_errors",
        "bytes_in",
        "bytes_out",
        "latency_us_total",
        "latency_us_max",
        "rolled_up_at",
    ]
    UsageDay.objects.bulk_create(days, update_conflicts=True, unique_fields=["client", "day"], update_fields=fields)
    return len(days)


def purge_usage_records(*, before: datetime | None = None) -> int:
    """Delete raw records older than the retention period, in batches; their days stay rolled up."""
    cutoff = before or timezone.now() - timedelta(days=settings.GATEWAY_USAGE_RETENTION_DAYS)
    deleted = 0
    while True:
        batch = list(UsageRecord.objects.filter(occurred_at__lt=cutoff).values_list("id", flat=True)[:PURGE_BATCH])
        if not batch:
            return deleted
        UsageRecord.objects.filter(id__in=batch).delete()
        deleted += len(batch)
