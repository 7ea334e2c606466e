"""Thin Celery tasks of the sync app: they take ids, call a service and are safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from apps.sync import services
from apps.sync.models import RunOperation, RunTrigger


@shared_task(
    name="apps.sync.tasks.run_workflow_task",
    bind=True,
    soft_time_limit=settings.SYNC_RUN_SOFT_TIME_LIMIT,
    time_limit=settings.SYNC_RUN_SOFT_TIME_LIMIT + 60,
)
def run_workflow_task(
    self: Any, workflow_id: str, trigger: str = RunTrigger.SCHEDULE, actor_id: str | None = None
) -> str | None:
    """Beat (one periodic task per workflow) and "run now": both change feeds. A run in progress covers it."""
    try:
        run = services.run_workflow(
            workflow_id=workflow_id,
            trigger=trigger,
            actor=services.user_by_id(actor_id),
            task_id=self.request.id or "",
        )
    except services.WorkflowBusy:
        return "busy"
    return run.status if run else None


@shared_task(
    name="apps.sync.tasks.sync_records_task",
    bind=True,
    max_retries=None,
    soft_time_limit=settings.SYNC_RUN_SOFT_TIME_LIMIT,
    time_limit=settings.SYNC_RUN_SOFT_TIME_LIMIT + 60,
)
def sync_records_task(
    self: Any,
    workflow_id: str,
    refs: list[dict[str, Any]],
    trigger: str = RunTrigger.WEBHOOK,
    actor_id: str | None = None,
    origin: dict[str, Any] | None = None,
) -> str | None:
    """Near-real-time run for named records (webhooks, operator retries); waits its turn behind a running run."""
    try:
        run = services.run_workflow(
            workflow_id=workflow_id,
            trigger=trigger,
            actor=services.user_by_id(actor_id),
            refs=refs,
            origin=origin,
            task_id=self.request.id or "",
        )
    except services.WorkflowBusy as exc:
        if self.request.retries >= settings.SYNC_BUSY_MAX_RETRIES:
            return "busy"  # the schedule's next run reads the same changes from the feeds
        raise self.retry(countdown=settings.SYNC_BUSY_RETRY_SECONDS, exc=exc) from exc
    return run.status if run else None


@shared_task(name="apps.sync.tasks.apply_conflict_resolutions_task", bind=True, max_retries=None)
def apply_conflict_resolutions_task(self: Any, workflow_id: str, actor_id: str | None = None) -> str | None:
    """Write operators' decisions on conflicts; a run in progress is waited for."""
    try:
        run = services.run_workflow(
            workflow_id=workflow_id,
            trigger=RunTrigger.MANUAL,
            actor=services.user_by_id(actor_id),
            operation=RunOperation.RESOLUTION,
            task_id=self.request.id or "",
        )
    except services.WorkflowBusy as exc:
        if self.request.retries >= settings.SYNC_BUSY_MAX_RETRIES:
            return "busy"  # the next scheduled run applies decided conflicts first
        raise self.retry(countdown=settings.SYNC_BUSY_RETRY_SECONDS, exc=exc) from exc
    return run.status if run else None
