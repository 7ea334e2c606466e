from celery import shared_task

from apps.security.services import verify_audit_chains


@shared_task(name="apps.security.tasks.verify_audit_chains_task")
def verify_audit_chains_task() -> bool:
    """Hourly proof that no audit event was altered or removed."""
    return verify_audit_chains().ok
