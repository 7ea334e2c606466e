"""Periodic region work: thin, idempotent tasks that call the region services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.regions.tasks.deliver_outbox_task")
def deliver_outbox_task() -> int:
    """Push pending directory changes to peer regions (safe to run concurrently: deliveries are leased)."""
    from apps.regions.replication import deliver_pending

    return deliver_pending().delivered


@shared_task(name="apps.regions.tasks.prune_outbox_task")
def prune_outbox_task() -> int:
    from apps.regions.replication import prune_delivered

    return prune_delivered()


@shared_task(name="apps.regions.tasks.sample_region_health_task")
def sample_region_health_task() -> None:
    from apps.regions.health import sample_health

    sample_health()


@shared_task(name="apps.regions.tasks.backup_database_task")
def backup_database_task() -> str:
    """Take a backup, then apply retention (only after a good one, so a failing backup never empties the shelf)."""
    from apps.regions.backups import create_backup, prune_backups
    from apps.regions.models import BackupStatus

    backup = create_backup()
    if backup.status == BackupStatus.SUCCEEDED:
        prune_backups()
    return str(backup.pk)


@shared_task(name="apps.regions.tasks.restore_drill_task")
def restore_drill_task() -> bool:
    from apps.regions.backups import run_restore_drill

    return run_restore_drill(write=lambda line: None).drill.ok
