"""Recording every gateway call, and rolling the records up per client per day.

Why a narrow append-only table with a daily roll-up rather than declarative partitioning: the suite and
`make run` also run on SQLite, where partitions do not exist; the raw rows are only ever appended in time
order, so on PostgreSQL a BRIN index on `occurred_at` (a few pages for millions of rows, added by the
migration) serves the roll-up's and the purge's time-range scans; and everything that people read
(pages, the summary API, billing) reads `UsageDay`, a table that grows by one row per client per day.
Raw rows are kept for `GATEWAY_USAGE_RETENTION_DAYS` and then deleted in batches by a periodic task.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, connection, connections, transaction
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.core.logging import current_request_id
from apps.gateway.models import UsageDay, UsageRecord
from apps.gateway.principals import GatewayCredential

PURGE_BATCH = 10_000

logger = logging.getLogger(__name__)


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
        UsageRecord.objects.bulk_create(records)
        return
    # The writer does not wait for the WAL to reach the disk: a crash may lose the last few milliseconds of
    # records (never corrupt them), which metering can afford.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        UsageRecord.objects.bulk_create(records)


class UsageWriter:
    """This process's usage records on their way to the table, written in batches by a background thread.

    A call hands its record over and returns: writing one row per call cost every call a transaction of
    four round trips. The thread writes whatever has gathered every `GATEWAY_USAGE_FLUSH_SECONDS`, or at
    once when `GATEWAY_USAGE_FLUSH_BATCH` records wait, and what is left when the process exits. When the
    database refuses a batch the records stay queued for the next attempt (up to
    `GATEWAY_USAGE_MAX_PENDING`, then the oldest are dropped and the loss is logged). A process that dies
    without exiting loses at most the records of its last second.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[UsageRecord] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False

    def add(self, record: UsageRecord) -> None:
        if settings.GATEWAY_USAGE_FLUSH_SECONDS <= 0:
            write_usage_records([record])
            return
        with self._lock:
            self._start_if_needed()
            self._pending.append(record)
            full = len(self._pending) >= settings.GATEWAY_USAGE_FLUSH_BATCH
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write everything waiting now; returns how many records were written (0 when the write failed)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            write_usage_records(batch)
        except (IntegrityError, DataError):
            # Some record can never be written (its client was deleted meanwhile, say): write the rest singly.
            return self._write_singly(batch)
        except Exception:
            logger.exception("Could not write %s usage records; keeping them for the next attempt", len(batch))
            self._requeue(batch)
            return 0
        return len(batch)

    def _write_singly(self, batch: list[UsageRecord]) -> int:
        written = 0
        for index, record in enumerate(batch):
            try:
                write_usage_records([record])
            except (IntegrityError, DataError) as exc:
                logger.error("Dropped a usage record of client %s the database refuses: %s", record.client_id, exc)
            except Exception:
                logger.exception("Could not write usage records; keeping them for the next attempt")
                self._requeue(batch[index:])
                break
            else:
                written += 1
        return written

    def _requeue(self, batch: list[UsageRecord]) -> None:
        with self._lock:
            self._pending[:0] = batch
            overflow = len(self._pending) - settings.GATEWAY_USAGE_MAX_PENDING
            if overflow > 0:
                del self._pending[:overflow]
                logger.error("Dropped the %s oldest usage records: the database refused them too long", overflow)

    def close(self) -> None:
        """Stop the background thread and write what is left."""
        thread, self._thread = self._thread, None
        self._stopping = True
        self._wake.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._stopping = False
        self.flush()

    def _start_if_needed(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        if self._pid != os.getpid():
            # A forked child starts with its parent's queue, which the parent writes itself.
            self._pending = []
            atexit.register(self.flush)
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping:
                # Never a busy loop, even if the interval is switched off while the thread runs.
                self._wake.wait(max(settings.GATEWAY_USAGE_FLUSH_SECONDS, 0.05))
                self._wake.clear()
                if self._stopping:
                    return
                # This thread's own database connection: dropped and reopened if the server went away.
                close_old_connections()
                self.flush()
        finally:
            connections.close_all()


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
