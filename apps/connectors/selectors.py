"""Reads of the connectors app that several callers share (API, admin, chat commands, the sync engine)."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.connectors.models import Connector, ConnectorHealthSample, ConnectorStatus, WebhookDelivery
from apps.connectors.providers import PROVIDERS, get_provider_class
from apps.core.process_cache import ProcessCache

SLA_WINDOWS: dict[str, timedelta] = {"24h": timedelta(hours=24), "30d": timedelta(days=30)}


def connectors_of(organization: Any) -> QuerySet[Connector]:
    return Connector.objects.for_organization(organization).select_related("manifest")


# The gateway finds the connector of every action call; connectors change far less often than they are called.
CONNECTORS = ProcessCache(
    "connectors", watch=("connectors.Connector", "connectors.ConnectorManifest", "accounts.Organization")
)


def connector_of(organization: Any, pk: Any) -> Connector | None:
    """One connector of the organization, with its organization and manifest; None when it has no such one."""
    if organization is None:
        return None
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        return None
    return CONNECTORS.get(
        (str(organization.pk), str(key)),
        lambda: (
            Connector.objects.for_organization(organization)
            .select_related("organization", "manifest")
            .filter(pk=key)
            .first()
        ),
    )


def active_connectors() -> QuerySet[Connector]:
    """Connectors the health beat should check (paused ones are left alone)."""
    return Connector.objects.exclude(status=ConnectorStatus.PAUSED)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def connector_sla(connector: Connector, *, window: timedelta, now: Any = None) -> dict[str, Any]:
    """Uptime %, latency p50/p95 and error rate of the connector's health checks over `window`."""
    since = (now or timezone.now()) - window
    rows = list(
        ConnectorHealthSample.objects.filter(connector=connector, checked_at__gte=since).values_list("ok", "latency_ms")
    )
    total = len(rows)
    ok = sum(1 for passed, _ in rows if passed)
    latencies = sorted(latency for passed, latency in rows if passed)
    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    return {
        "checks": total,
        "uptime_percent": round(100 * ok / total, 3) if total else None,
        "error_rate": round((total - ok) / total, 4) if total else None,
        "latency_p50_ms": round(p50, 2) if p50 is not None else None,
        "latency_p95_ms": round(p95, 2) if p95 is not None else None,
    }


def connector_health(connector: Connector) -> dict[str, Any]:
    """Status, the last check and the SLA over every reporting window."""
    last = ConnectorHealthSample.objects.filter(connector=connector).order_by("-checked_at").first()
    return {
        "status": connector.status,
        "status_reason": connector.status_reason,
        "last_checked_at": connector.last_checked_at,
        "last_sync_at": connector.last_sync_at,
        "last_check": (
            {
                "checked_at": last.checked_at,
                "ok": last.ok,
                "latency_ms": last.latency_ms,
                "status_code": last.status_code,
                "error_code": last.error_code,
                "detail": last.detail,
            }
            if last
            else None
        ),
        "windows": {name: connector_sla(connector, window=window) for name, window in SLA_WINDOWS.items()},
    }


def organization_integration_health(organization_id: Any) -> dict[str, Any]:
    """A one-screen summary of every connector of an organization, for chat commands."""
    connectors = list(Connector.objects.filter(organization_id=organization_id).order_by("name"))
    rows = []
    for connector in connectors:
        uptime = connector_sla(connector, window=SLA_WINDOWS["24h"])["uptime_percent"]
        rows.append(
            {
                "name": connector.name,
                "provider": connector.provider,
                "status": connector.status,
                "uptime_24h": f"{uptime:.1f}%" if uptime is not None else "n/a",
                "last_sync_at": connector.last_sync_at.strftime("%Y-%m-%d %H:%M UTC")
                if connector.last_sync_at
                else None,
            }
        )
    failing = sum(1 for c in connectors if c.status == ConnectorStatus.FAILING)
    healthy = sum(1 for c in connectors if c.status == ConnectorStatus.ACTIVE)
    return {"total": len(connectors), "healthy": healthy, "failing": failing, "connectors": rows}


def deliveries_of(organization: Any) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.for_organization(organization).select_related("connector")


def provider_catalog() -> list[dict[str, Any]]:
    """Every registered provider with the schemas of its settings and credentials."""
    catalog = []
    for kind in sorted(PROVIDERS):
        provider_class = get_provider_class(kind)
        catalog.append(
            {
                "kind": kind,
                "title": provider_class.title,
                "connector_type": provider_class.connector_type,
                "default_base_url": provider_class.default_base_url,
                "settings_schema": provider_class.settings_schema,
                "credentials_schema": provider_class.credentials_schema,
                "object_types": [o.name for o in provider_class.object_type_list],
                "actions": [a.name for a in provider_class.action_list],
                "notification_channel": provider_class.is_notification_channel,
            }
        )
    return catalog
