"""Signed webhooks to installed apps: HMAC-SHA256 over `timestamp.body` with the installation's secret,
retried with growing delays for up to MARKETPLACE_WEBHOOK_RETRY_WINDOW, redeliverable by operators."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.marketplace.connectors_bridge import OutboundFailed, OutboundRefused, outbound_request
from apps.marketplace.models import DeliveryStatus, Installation, InstallationStatus, WebhookDelivery
from apps.security.services import record_audit_event
from nofx_sdk.rules.manifest import APP_TYPES

# The SDK verifies what the platform signs with one implementation (nofx_sdk.webhooks), so the two cannot drift.
from nofx_sdk.webhooks import signature_headers as webhook_signature_headers

# Delays after the 1st, 2nd ... failed attempt; the last one repeats until the retry window closes.
BACKOFF = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
]


def _subscribed(installation: Installation, event: str) -> bool:
    manifest = installation.version.manifest or {}
    app = manifest.get("app") or {}
    events = (manifest.get("webhooks") or {}).get("events") or []
    return installation.extension.type in APP_TYPES and bool(app.get("webhookUrl")) and event in events


def enqueue_webhook(
    *, installation: Installation, event: str, data: dict[str, Any], force: bool = False
) -> WebhookDelivery | None:
    """Queue `event` for the installation's app if it subscribed to it; delivered after commit."""
    if not _subscribed(installation, event):
        return None
    if installation.status != InstallationStatus.ACTIVE and not force:
        return None
    delivery = WebhookDelivery.objects.create(
        organization_id=installation.organization_id,
        installation=installation,
        event=event,
        payload={
            "event": event,
            "installation_id": str(installation.pk),
            "organization_id": str(installation.organization_id),
            "extension": installation.extension.slug,
            "version": installation.version.version,
            "data": data,
        },
        next_attempt_at=timezone.now(),
    )
    from apps.marketplace.tasks import deliver_webhook_task

    delivery_id = str(delivery.pk)
    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery_id))
    return delivery


def attempt_delivery(*, delivery_id: Any) -> WebhookDelivery | None:
    """Send one due delivery; on failure schedule the next attempt or give up after the retry window."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("installation__version", "installation__extension")
            .filter(pk=delivery_id, status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED))
            .first()
        )
        if delivery is None:
            return None
        now = timezone.now()
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return delivery
        installation = delivery.installation
        url = ((installation.version.manifest or {}).get("app") or {}).get("webhookUrl", "")
        body = json.dumps({"id": str(delivery.pk), **delivery.payload}, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Nofx-Event": delivery.event,
            "Nofx-Delivery": str(delivery.pk),
            **webhook_signature_headers(installation.webhook_secret, body),
        }
        error, status_code = "", None
        try:
            response = outbound_request("POST", url, body=body, headers=headers, timeout=10)
            status_code = response.status
            if not 200 <= response.status < 300:
                error = f"HTTP {response.status}"
        except (OutboundRefused, OutboundFailed) as exc:
            error = str(exc)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status_code
        delivery.last_error = error[:2000]
        if not error:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        else:
            delay = BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]
            next_at = now + delay
            if next_at > delivery.created_at + settings.MARKETPLACE_WEBHOOK_RETRY_WINDOW:
                delivery.status = DeliveryStatus.GAVE_UP
                delivery.next_attempt_at = None
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = next_at
        delivery.save()
    return delivery


def due_delivery_ids(limit: int = 500) -> list[str]:
    rows = WebhookDelivery.objects.filter(
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED), next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at")[:limit]
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


def redeliver_webhook(*, delivery: WebhookDelivery, actor: Any) -> WebhookDelivery:
    """An operator sends a delivery again (e.g. after the app's outage), whatever its state."""
    with transaction.atomic():
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at", "updated_at"])
        record_audit_event(
            actor=actor,
            action="marketplace.webhook_redelivered",
            target=delivery,
            data={"event": delivery.event, "attempts": delivery.attempts},
        )
        from apps.marketplace.tasks import deliver_webhook_task

        delivery_id = str(delivery.pk)
        transaction.on_commit(lambda: deliver_webhook_task.delay(delivery_id))
    return delivery
