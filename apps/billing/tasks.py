"""Celery tasks of billing: thin, idempotent, keyed by ids."""

from __future__ import annotations

import datetime as dt
import logging

import stripe
from celery import shared_task
from django.utils import timezone

from apps.billing import services
from apps.billing.models import UsageRecord
from apps.marketplace.models import ExtensionVersion

logger = logging.getLogger(__name__)


@shared_task(name="apps.billing.tasks.sync_billing_plans_task", acks_late=True)
def sync_billing_plans_task(version_id: str) -> int:
    version = ExtensionVersion.objects.select_related("extension__publisher").filter(pk=version_id).first()
    if version is None:
        return 0
    try:
        return len(services.sync_billing_plans(version=version))
    except stripe.StripeError:
        # Publishing never fails on Stripe: the plans stay unsold until the next sync.
        logger.exception("Could not push the plans of version %s to Stripe.", version_id)
        return 0


@shared_task(name="apps.billing.tasks.report_usage_task", acks_late=True)
def report_usage_task(usage_id: str) -> bool:
    try:
        record = services.report_usage(usage_id=usage_id)
    except stripe.StripeError:
        logger.exception("Could not report usage %s to Stripe; the next sweep retries.", usage_id)
        return False
    return bool(record and record.reported_at)


@shared_task(name="apps.billing.tasks.report_pending_usage_task", acks_late=True)
def report_pending_usage_task() -> int:
    pending = UsageRecord.objects.filter(reported_at__isnull=True).values_list("pk", flat=True)[:1000]
    return sum(1 for usage_id in pending if report_usage_task(str(usage_id)))


@shared_task(name="apps.billing.tasks.disable_lapsed_installations_task", acks_late=True)
def disable_lapsed_installations_task() -> int:
    return services.disable_lapsed_installations()


@shared_task(name="apps.billing.tasks.close_statements_task", acks_late=True)
def close_statements_task() -> int:
    """The previous calendar month's statements (run on the 1st)."""
    today = timezone.now().date()
    period_end = today.replace(day=1)
    period_start = (period_end - dt.timedelta(days=1)).replace(day=1)
    return len(services.close_statements(period_start=period_start, period_end=period_end))
