from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.gateway import idempotency
from apps.gateway.usage import purge_usage_records, roll_up_usage


@shared_task(name="apps.gateway.tasks.roll_up_usage_task")
def roll_up_usage_task() -> int:
    """Every few minutes: today's and yesterday's usage per client (yesterday catches late records)."""
    today = timezone.now().date()
    return roll_up_usage(day=today - timedelta(days=1)) + roll_up_usage(day=today)


@shared_task(name="apps.gateway.tasks.purge_gateway_records_task")
def purge_gateway_records_task() -> int:
    """Daily: raw usage past its retention and idempotency records past their 24 hours."""
    return purge_usage_records() + idempotency.purge_expired()
