"""What the operator page and /metrics show about every region: one gathering, two renderings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.regions.models import (
    BackupRecord,
    BackupStatus,
    DeliveryStatus,
    DirectoryEntry,
    DirectoryKind,
    DrillKind,
    DrillRecord,
    OutboxDelivery,
    Region,
    RegionStatus,
)
from apps.regions.selectors import local_region_code

logger = logging.getLogger(__name__)


@dataclass
class RegionView:
    region: Region
    is_local: bool
    health: dict[str, Any]
    sampled_at: datetime | None
    pending: int
    oldest_pending_at: datetime | None

    @property
    def health_age_seconds(self) -> float | None:
        return None if self.sampled_at is None else (timezone.now() - self.sampled_at).total_seconds()


@dataclass
class Overview:
    regions: list[RegionView]
    last_backup: BackupRecord | None
    last_restore_drill: DrillRecord | None
    last_failover: DrillRecord | None


def gather() -> Overview:
    """Everything in a fixed number of queries, however many regions there are."""
    local = local_region_code()
    health = {
        entry.key: entry.data
        for entry in DirectoryEntry.objects.filter(kind=DirectoryKind.REGION_HEALTH, is_deleted=False)
    }
    backlog: dict[Any, dict[str, Any]] = {
        row["region_id"]: dict(row)
        for row in OutboxDelivery.objects.filter(status=DeliveryStatus.PENDING)
        .values("region_id")
        .annotate(pending=Count("id"), oldest=Min("message__created_at"))
    }
    views = []
    for region in Region.objects.order_by("code"):
        data = health.get(region.code, {})
        sampled = parse_datetime(data["sampled_at"]) if data.get("sampled_at") else None
        queued: dict[str, Any] = backlog.get(region.pk, {})
        views.append(
            RegionView(
                region=region,
                is_local=region.code == local,
                health=data,
                sampled_at=sampled,
                pending=int(queued.get("pending", 0)),
                oldest_pending_at=queued.get("oldest"),
            )
        )
    backups = BackupRecord.objects.filter(region_code=local, status=BackupStatus.SUCCEEDED)
    drills = DrillRecord.objects.filter(region_code=local)
    return Overview(
        regions=views,
        last_backup=backups.order_by("-started_at").first(),
        last_restore_drill=drills.filter(kind=DrillKind.RESTORE).order_by("-started_at").first(),
        last_failover=drills.filter(Q(kind=DrillKind.FAILOVER) | Q(kind=DrillKind.FAILBACK))
        .order_by("-started_at")
        .first(),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


REGION_GAUGES = (
    ("database_up", "1 when the region's database answered its last health sample."),
    ("database_latency_seconds", "Time of a trivial query in the last sample."),
    ("replica_lag_seconds", "Replay lag of the slowest standby (absent without a standby)."),
    ("replica_lag_bytes", "WAL bytes the slowest standby has not replayed."),
    ("broker_up", "1 when the Celery broker answered."),
    ("queue_depth", "Tasks waiting in the default queue."),
    ("error_ratio", "Share of 5xx answers over the last five minutes."),
    ("latency_p95_seconds", "Upper bound of the 95th percentile response time over five minutes."),
    ("health_age_seconds", "Age of the newest health sample this region has of the region."),
    ("outbox_pending", "Directory changes not yet delivered to the region."),
    ("outbox_oldest_pending_seconds", "Age of the oldest undelivered directory change."),
)
RECOVERY_GAUGES = (
    ("backup_last_success_timestamp_seconds", "When the newest good backup was taken."),
    ("restore_drill_last_timestamp_seconds", "When the last restore drill ran."),
    ("restore_drill_last_ok", "1 when the last restore drill verified its restore."),
    ("restore_drill_rpo_seconds", "RPO measured by the last restore drill."),
    ("restore_drill_rto_seconds", "RTO measured by the last restore drill."),
)


def _families() -> tuple[GaugeMetricFamily, dict[str, GaugeMetricFamily]]:
    status = GaugeMetricFamily("nofx_region_status", "1 for the region's current status.", labels=["region", "status"])
    gauges = {
        name: GaugeMetricFamily(f"nofx_region_{name}", text, labels=["region"])
        for name, text in (*REGION_GAUGES, *RECOVERY_GAUGES)
    }
    return status, gauges


class RegionCollector(Collector):
    """Prometheus gauges read from the database at scrape time (so every web process reports the same)."""

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names; answering from here keeps it from querying the database.
        status, gauges = _families()
        yield status
        yield from gauges.values()

    def collect(self) -> Iterator[Metric]:
        try:
            overview = gather()
        except Exception:
            # A scrape while the database is down must still serve every other metric.
            logger.debug("Region metrics unavailable", exc_info=True)
            return
        status, gauges = _families()
        now = timezone.now()
        for view in overview.regions:
            code = view.region.code
            for choice in RegionStatus.values:
                status.add_metric([code, choice], 1.0 if view.region.status == choice else 0.0)
            oldest = (now - view.oldest_pending_at).total_seconds() if view.oldest_pending_at else 0.0
            fields = {
                "database_up": _number(view.health.get("database_ok")),
                "database_latency_seconds": _scaled(view.health.get("database_latency_ms")),
                "replica_lag_seconds": _number(view.health.get("replica_lag_seconds")),
                "replica_lag_bytes": _number(view.health.get("replica_lag_bytes")),
                "broker_up": _number(view.health.get("broker_ok")),
                "queue_depth": _number(view.health.get("queue_depth")),
                "error_ratio": _number(view.health.get("error_rate")),
                "latency_p95_seconds": _scaled(view.health.get("latency_p95_ms")),
                "health_age_seconds": view.health_age_seconds,
                "outbox_pending": None if view.is_local else float(view.pending),
                "outbox_oldest_pending_seconds": None if view.is_local else oldest,
            }
            for name, value in fields.items():
                if value is not None:
                    gauges[name].add_metric([code], value)
        local = [local_region_code()]
        drill = overview.last_restore_drill
        recovery = {
            "backup_last_success_timestamp_seconds": overview.last_backup.started_at.timestamp()
            if overview.last_backup
            else None,
            "restore_drill_last_timestamp_seconds": drill.started_at.timestamp() if drill else None,
            "restore_drill_last_ok": float(drill.ok) if drill else None,
            "restore_drill_rpo_seconds": drill.rpo_seconds if drill else None,
            "restore_drill_rto_seconds": drill.rto_seconds if drill else None,
        }
        for name, value in recovery.items():
            if value is not None:
                gauges[name].add_metric(local, float(value))
        yield status
        yield from gauges.values()


def _scaled(milliseconds: Any) -> float | None:
    value = _number(milliseconds)
    return None if value is None else value / 1000


_registered = False


def register_collector() -> None:
    """Add the region gauges to the process's Prometheus registry (once)."""
    global _registered
    if _registered:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(RegionCollector())
    _registered = True
