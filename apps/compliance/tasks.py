from celery import shared_task

from apps.compliance.services import run_all_control_checks


@shared_task(name="apps.compliance.tasks.run_control_checks_task")
def run_control_checks_task() -> int:
    """Hourly: every organization's control checks, findings and today's score."""
    return run_all_control_checks()
