"""Who hears about a security event, and how: in-app, email, and the organization's signed webhook."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from apps.accounts.models import Membership, User
from apps.accounts.roles import ROLE_PERMISSIONS
from apps.security.models import SecurityAlertChannel, SecurityEvent


def alert_recipients(event: SecurityEvent) -> list[User]:
    """The organization's people who may manage security; for platform events, the operators."""
    if event.organization_id is None:
        return list(User.objects.filter(is_staff=True, is_active=True).order_by("email"))
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if "security.manage" in perms]
    return [
        m.user
        for m in Membership.objects.filter(organization_id=event.organization_id, role__in=roles, user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    ]


def alert_payload(event: SecurityEvent) -> dict[str, Any]:
    """What leaves the platform about an event: ids and facts, no personal data."""
    return {
        "type": "security_event",
        "id": str(event.pk),
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "event_type": event.event_type,
        "severity": event.severity,
        "title": event.title,
        "source_ip": event.source_ip,
        "user_id": str(event.user_id) if event.user_id else None,
        "detected_at": event.first_seen_at.isoformat(),
    }


def deliver_alert_later(event: SecurityEvent, recipients: list[User]) -> list[str]:
    """Queue the email and webhook deliveries after commit; returns the channels queued."""
    from apps.security.tasks import send_security_alert_email_task, send_security_alert_webhook_task

    channel = (
        SecurityAlertChannel.objects.filter(organization_id=event.organization_id).first()
        if event.organization_id
        else None
    )
    queued: list[str] = []
    event_id = str(event.pk)
    if recipients and (channel is None or channel.email_enabled):
        transaction.on_commit(lambda: send_security_alert_email_task.delay(event_id))
        queued.append("email")
    if channel is not None and channel.webhook_url:
        transaction.on_commit(lambda: send_security_alert_webhook_task.delay(event_id))
        queued.append("webhook")
    return queued


def webhook_body(event: SecurityEvent) -> bytes:
    return json.dumps(alert_payload(event), sort_keys=True, separators=(",", ":")).encode()
