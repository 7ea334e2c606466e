"""Thin Celery tasks of the connectors app: they take ids, call a service and are safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.connectors import selectors, services
from apps.connectors.errors import RateLimited, UpstreamUnavailable
from apps.connectors.models import Connector, NotificationRoute, WebhookDelivery
from apps.connectors.providers.base import Notification


@shared_task(name="apps.connectors.tasks.check_all_connectors_task")
def check_all_connectors_task() -> int:
    """Beat: queue a health check of every connector that is not paused."""
    ids = list(selectors.active_connectors().values_list("pk", flat=True))
    for connector_id in ids:
        check_connector_health_task.delay(str(connector_id))
    return len(ids)


@shared_task(name="apps.connectors.tasks.check_connector_health_task")
def check_connector_health_task(connector_id: str) -> bool | None:
    connector = Connector.objects.filter(pk=connector_id).select_related("manifest").first()
    if connector is None or connector.is_paused:
        return None
    return services.check_connector_health(connector=connector).ok


@shared_task(name="apps.connectors.tasks.process_webhook_delivery_task")
def process_webhook_delivery_task(delivery_id: str) -> str | None:
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).select_related("connector__manifest").first()
    if delivery is None:
        return None
    return services.process_webhook_delivery(delivery=delivery).status


@shared_task(
    name="apps.connectors.tasks.deliver_notification_task",
    autoretry_for=(RateLimited, UpstreamUnavailable),
    retry_backoff=True,
    max_retries=5,
)
def deliver_notification_task(route_id: str, event_type: str, payload: dict[str, Any]) -> None:
    route = NotificationRoute.objects.filter(pk=route_id, is_active=True).select_related("connector").first()
    if route is None:
        return
    notification = Notification(
        title=payload["title"],
        text=payload["text"],
        severity=payload.get("severity", "info"),
        link=payload.get("link", ""),
        facts=tuple((str(k), str(v)) for k, v in payload.get("facts", [])),
    )
    services.deliver_notification(route=route, notification=notification)


@shared_task(name="apps.connectors.tasks.prune_connector_history_task")
def prune_connector_history_task() -> tuple[int, int]:
    return services.prune_connector_history()
