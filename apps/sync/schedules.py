"""A workflow's schedule, written as the django-celery-beat `PeriodicTask` that beat reads.

Only the workflow services call this: the periodic task follows the workflow (created with it, changed
with it, enabled only while it is active, deleted with it), so nobody edits it by hand.
"""

from __future__ import annotations

import json

from celery.schedules import crontab
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.sync.models import IntegrationWorkflow, ScheduleKind

RUN_TASK = "apps.sync.tasks.run_workflow_task"
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def parse_cron(expression: str) -> dict[str, str]:
    """`minute hour day-of-month month day-of-week` -> CrontabSchedule fields; ValueError when malformed."""
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ValueError("A cron expression has five fields: minute hour day-of-month month day-of-week.")
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    # Celery parses every field the way beat will; a value it cannot read fails here, not at 3 a.m.
    crontab(**fields)
    return fields


def periodic_task_name(workflow: IntegrationWorkflow) -> str:
    return f"sync-workflow-{workflow.pk}"


def write_periodic_task(workflow: IntegrationWorkflow) -> PeriodicTask:
    """Create or update the workflow's periodic task to match its schedule and status."""
    task = workflow.periodic_task or PeriodicTask(name=periodic_task_name(workflow))
    if workflow.schedule_kind == ScheduleKind.CRON:
        crontab_row, _ = CrontabSchedule.objects.get_or_create(**parse_cron(workflow.cron_expression), timezone="UTC")
        task.crontab, task.interval = crontab_row, None
    else:
        interval_row, _ = IntervalSchedule.objects.get_or_create(
            every=workflow.interval_seconds or 300, period=IntervalSchedule.SECONDS
        )
        task.interval, task.crontab = interval_row, None
    task.task = RUN_TASK
    task.args = json.dumps([str(workflow.pk)])
    task.kwargs = json.dumps({"trigger": "schedule"})
    task.enabled = workflow.is_active
    task.description = f"Sync workflow {workflow.name!r} ({workflow.schedule_text})."
    task.save()
    return task


def delete_periodic_task(workflow: IntegrationWorkflow) -> None:
    if workflow.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=workflow.periodic_task_id).delete()
