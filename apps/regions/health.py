"""Per-region health: database, replica lag, broker, queue depth, error rate and latency.

Each region samples itself every minute, keeps the samples for a week, and publishes the newest one in the
replicated directory, so every region's operator page and /metrics show every region.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core import health as core_health
from apps.regions import traffic
from apps.regions.models import DirectoryKind, RegionHealthSample
from apps.regions.selectors import local_region_code, pending_deliveries_count
from apps.regions.services import publish_directory_entry

KEEP_SAMPLES = timedelta(days=7)


def replica_lag() -> tuple[float | None, int | None]:
    """Seconds and bytes the slowest standby is behind this primary; (None, None) without a standby."""
    if connection.vendor != "postgresql":
        return None, None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), max(COALESCE(EXTRACT(EPOCH FROM replay_lag), 0))::float8,"
            " max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint"
            " FROM pg_stat_replication"
        )
        standbys, seconds, lag_bytes = cursor.fetchone()
    if not standbys:
        return None, None
    return float(seconds or 0.0), int(lag_bytes or 0)


def queue_depth() -> int | None:
    """Tasks waiting in the default Celery queue, or None when the broker cannot say."""
    url = str(settings.CELERY_BROKER_URL)
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
    if url.startswith("filesystem://"):
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")))
        return sum(1 for _ in folder.glob("*.msg")) if folder.is_dir() else 0
    return None


def _timed(check: Any) -> tuple[bool, float]:
    started = time.perf_counter()
    error = check()
    return error is None, (time.perf_counter() - started) * 1000


def measure_health() -> RegionHealthSample:
    """Measure this region now (an unsaved sample)."""
    database_ok, database_ms = _timed(core_health.check_database)
    broker_ok, _ = _timed(core_health.check_broker)
    try:
        lag_seconds, lag_bytes = replica_lag() if database_ok else (None, None)
    except Exception:  # noqa: BLE001 - a role without pg_stat_replication access reports "unknown", not a crash
        lag_seconds, lag_bytes = None, None
    try:
        depth = queue_depth() if broker_ok else None
    except Exception:  # noqa: BLE001 - each broker client fails its own way; the figure is then unknown
        depth = None
    figures = traffic.summarise(minutes=5)
    return RegionHealthSample(
        region_code=local_region_code(),
        sampled_at=timezone.now(),
        database_ok=database_ok,
        database_latency_ms=round(database_ms, 2),
        replica_lag_seconds=lag_seconds,
        replica_lag_bytes=lag_bytes,
        broker_ok=broker_ok,
        queue_depth=depth,
        requests=figures.requests,
        error_rate=figures.error_rate,
        latency_p95_ms=None if figures.latency_p95_seconds is None else figures.latency_p95_seconds * 1000,
        outbox_pending=pending_deliveries_count() if database_ok else 0,
    )


def sample_health() -> RegionHealthSample:
    """Measure this region now, keep the sample and publish it to the other regions."""
    sample = measure_health()
    with transaction.atomic():
        sample.save()
        publish_directory_entry(
            kind=DirectoryKind.REGION_HEALTH,
            key=local_region_code(),
            slug=local_region_code(),
            region_code=local_region_code(),
            data=sample_data(sample),
        )
        RegionHealthSample.objects.filter(sampled_at__lt=timezone.now() - KEEP_SAMPLES).delete()
    return sample


def sample_data(sample: RegionHealthSample) -> dict[str, Any]:
    return {
        "sampled_at": sample.sampled_at.isoformat(),
        "database_ok": sample.database_ok,
        "database_latency_ms": sample.database_latency_ms,
        "replica_lag_seconds": sample.replica_lag_seconds,
        "replica_lag_bytes": sample.replica_lag_bytes,
        "broker_ok": sample.broker_ok,
        "queue_depth": sample.queue_depth,
        "requests": sample.requests,
        "error_rate": sample.error_rate,
        "latency_p95_ms": sample.latency_p95_ms,
        "outbox_pending": sample.outbox_pending,
    }
