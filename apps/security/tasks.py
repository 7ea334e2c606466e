from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from apps.security.models import SecurityAlertChannel, SecurityEvent
from apps.security.services import purge_login_observations, refresh_threat_feeds, verify_audit_chains

logger = logging.getLogger(__name__)


@shared_task(name="apps.security.tasks.verify_audit_chains_task")
def verify_audit_chains_task() -> bool:
    """Hourly proof that no audit event was altered or removed."""
    return verify_audit_chains().ok


@shared_task(name="apps.security.tasks.write_audit_checkpoint_task")
def write_audit_checkpoint_task() -> str:
    """Hourly signed checkpoint of every chain head, written outside the database."""
    from apps.security.checkpoints import write_audit_checkpoint

    return write_audit_checkpoint().name


@shared_task(name="apps.security.tasks.refresh_threat_feeds_task")
def refresh_threat_feeds_task() -> dict[str, int]:
    return refresh_threat_feeds()


@shared_task(name="apps.security.tasks.purge_login_observations_task")
def purge_login_observations_task() -> int:
    return purge_login_observations()


@shared_task(name="apps.security.tasks.send_security_alert_email_task")
def send_security_alert_email_task(event_id: str) -> int:
    from apps.security.notifications import alert_recipients

    event = SecurityEvent.objects.filter(pk=event_id).select_related("organization").first()
    if event is None:
        return 0
    recipients = [user.email for user in alert_recipients(event)]
    if not recipients:
        return 0
    body = render_to_string("security/email/alert.txt", {"event": event, "SITE_URL": settings.SITE_URL})
    subject = f"[{event.get_severity_display()}] Security alert: {event.title}"[:200]
    return send_mail(subject, body, None, recipients)


@shared_task(name="apps.security.tasks.send_security_alert_webhook_task")
def send_security_alert_webhook_task(event_id: str) -> int:
    from apps.security.notifications import webhook_body
    from apps.security.outbound import OutboundRefused, send_outbound_request
    from apps.security.signing import SIGNATURE_HEADER, sign

    event = SecurityEvent.objects.filter(pk=event_id).first()
    if event is None or event.organization_id is None:
        return 0
    channel = SecurityAlertChannel.objects.filter(organization_id=event.organization_id).first()
    if channel is None or not channel.webhook_url:
        return 0
    body = webhook_body(event)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(channel.webhook_secret or "", body)}
    try:
        response = send_outbound_request(method="POST", url=channel.webhook_url, body=body, headers=headers)
    except OutboundRefused as exc:
        logger.warning("Security alert webhook for event %s refused: %s", event_id, exc)
        return 0
    return response.status
