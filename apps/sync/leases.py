"""One run per workflow at a time: a lease on the workflow row, taken and renewed by conditional UPDATEs.

A lease rather than a lock held for the whole run: a run lasts minutes and must commit as it goes, so it
cannot sit inside one transaction. A worker that dies stops renewing; once the lease has expired the next
run takes over, marks the dead run interrupted and resumes from the committed cursors.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.sync.models import IntegrationWorkflow


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.SYNC_RUN_LEASE_SECONDS)


def acquire_run_lease(*, workflow_id: Any) -> str | None:
    """A fresh lease token, or None while another run holds an unexpired lease."""
    token = uuid.uuid4().hex
    now = timezone.now()
    taken = (
        IntegrationWorkflow.objects.filter(pk=workflow_id)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_token=token, lease_expires_at=now + lease_duration())
    )
    return token if taken else None


def renew_run_lease(*, workflow_id: Any, token: str) -> bool:
    """Extend the lease; False when it was lost (expired and taken over), so the run must stop."""
    return bool(
        IntegrationWorkflow.objects.filter(pk=workflow_id, lease_token=token).update(
            lease_expires_at=timezone.now() + lease_duration()
        )
    )


def release_run_lease(*, workflow_id: Any, token: str) -> None:
    IntegrationWorkflow.objects.filter(pk=workflow_id, lease_token=token).update(lease_token="", lease_expires_at=None)
