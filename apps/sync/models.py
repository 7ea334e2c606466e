"""Integration workflows and everything a sync run leaves behind.

- `IntegrationWorkflow` (the seed's `integration_workflows`): two connectors' object types kept in step.
- `RecordLink`: one record on each side, paired, with the snapshot of each as last synced and the hash
  of what we last wrote there (so our own writes coming back are recognised, not echoed).
- `Conflict`: a field both sides changed, held for an operator under the `manual` policy.
- `SyncRun` (the seed's `sync_operations`): one row per run with counts, error samples and live progress.
- `DataMovement`: the immutable trail, one entry per record written or deleted, linked to the audit log.
- `FailedRecord`: records a run could not carry across, with the reason, until they go through.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import OrganizationOwnedModel
from apps.sync.merge import ConflictPolicy


class Direction(models.TextChoices):
    ONE_WAY = "one_way", "One way (source to target)"
    BIDIRECTIONAL = "bidirectional", "Both ways"


class WorkflowStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class DeletePolicy(models.TextChoices):
    PROPAGATE = "propagate", "Delete the linked record too"
    TOMBSTONE = "tombstone", "Keep the linked record and mark the link deleted"


class ScheduleKind(models.TextChoices):
    INTERVAL = "interval", "Every N seconds"
    CRON = "cron", "Cron expression"


class Side(models.TextChoices):
    SOURCE = "source", "Source"
    TARGET = "target", "Target"


class IntegrationWorkflow(OrganizationOwnedModel):
    """Keeps records of one connector's object type in step with another's (the seed's `integration_workflows`)."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    template_key = models.CharField(max_length=60, blank=True, help_text="The ready-made template it came from.")
    source_connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.PROTECT, related_name="source_workflows"
    )
    source_object_type = models.CharField(max_length=80)
    target_connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.PROTECT, related_name="target_workflows"
    )
    target_object_type = models.CharField(max_length=80)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.ONE_WAY)
    mappings = models.JSONField(default=list, help_text="Field rules; see apps.sync.mapping.")
    conflict_policy = models.CharField(
        max_length=20, choices=ConflictPolicy.choices, default=ConflictPolicy.SOURCE_WINS
    )
    field_authority = models.JSONField(
        default=dict, blank=True, help_text='Target field -> "source" or "target", for the field_authority policy.'
    )
    delete_policy = models.CharField(max_length=12, choices=DeletePolicy.choices, default=DeletePolicy.TOMBSTONE)
    tombstone_values = models.JSONField(
        default=dict,
        blank=True,
        help_text='Written on the surviving side when its partner is deleted: {"target": {...}, "source": {...}}.',
    )
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.INTERVAL)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True, default=300)
    cron_expression = models.CharField(max_length=120, blank=True, help_text="minute hour day month weekday")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=WorkflowStatus.choices, default=WorkflowStatus.ACTIVE)
    # Where each side's change feed resumes; advanced only after the writes of a page have committed.
    source_cursor = models.TextField(blank=True)
    target_cursor = models.TextField(blank=True)
    # One run at a time: a lease taken by a conditional UPDATE, renewed while the run makes progress.
    lease_token = models.CharField(max_length=64, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("organization", "name"), name="sync_workflow_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_bidirectional(self) -> bool:
        return self.direction == Direction.BIDIRECTIONAL

    @property
    def is_active(self) -> bool:
        return self.status == WorkflowStatus.ACTIVE

    @property
    def schedule_text(self) -> str:
        if self.schedule_kind == ScheduleKind.CRON:
            return f"cron {self.cron_expression}"
        return f"every {self.interval_seconds} s"


class LinkState(models.TextChoices):
    PENDING = "pending", "Reserved, write in flight"
    LINKED = "linked", "Linked"
    TOMBSTONED = "tombstoned", "Deleted on one side, kept on the other"
    DELETED = "deleted", "Deleted on both sides"


class RecordLink(OrganizationOwnedModel):
    """A record on each side of a workflow, paired.

    A create reserves the link (state `pending`, with an idempotency key) and commits it *before* the
    write leaves; a worker killed between the write and the confirmation leaves a pending link that the
    next run settles, instead of a second record.
    """

    workflow = models.ForeignKey(IntegrationWorkflow, on_delete=models.CASCADE, related_name="links")
    # NULL, not "", until the record exists: the unique constraints below skip NULLs, so many links can be
    # reserved at once on the same side.
    source_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - see above
    target_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - see above
    state = models.CharField(max_length=12, choices=LinkState.choices, default=LinkState.PENDING)
    pending_side = models.CharField(max_length=6, choices=Side.choices, blank=True, help_text="Where a create goes.")
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    pending_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the record being created.")
    source_snapshot = models.JSONField(null=True, blank=True, help_text="Mapped source fields as last synced.")
    target_snapshot = models.JSONField(null=True, blank=True, help_text="Mapped target fields as last synced.")
    source_hash = models.CharField(max_length=64, blank=True)
    target_hash = models.CharField(max_length=64, blank=True)
    source_written_hash = models.CharField(max_length=64, blank=True, help_text="Hash of what we last wrote there.")
    target_written_hash = models.CharField(max_length=64, blank=True, help_text="Hash of what we last wrote there.")
    source_updated_at = models.DateTimeField(null=True, blank=True, help_text="The source's own clock, last sync.")
    target_updated_at = models.DateTimeField(null=True, blank=True, help_text="The target's own clock, last sync.")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey("SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ("-updated_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("workflow", "source_id"), condition=Q(source_id__isnull=False), name="sync_link_unique_source"
            ),
            models.UniqueConstraint(
                fields=("workflow", "target_id"), condition=Q(target_id__isnull=False), name="sync_link_unique_target"
            ),
        ]
        indexes = [models.Index(fields=("workflow", "state"), name="sync_link_by_state")]

    def __str__(self) -> str:
        return f"{self.source_id or '?'} <-> {self.target_id or '?'} ({self.state})"

    def side_id(self, side: str) -> str | None:
        return self.source_id if side == Side.SOURCE else self.target_id


class RunOperation(models.TextChoices):
    INITIAL = "initial", "Initial sync"
    INCREMENTAL = "incremental", "Incremental sync"
    RECORDS = "records", "Named records (webhook or retry)"
    RESOLUTION = "resolution", "Apply conflict resolutions"
    RECONCILE = "reconcile", "Reconcile"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "An operator"
    SYSTEM = "system", "The platform"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with failed records"
    FAILED = "failed", "Stopped by an error"
    INTERRUPTED = "interrupted", "Interrupted (worker lost)"


class SyncRun(OrganizationOwnedModel):
    """One run of a workflow (the seed's `sync_operations`), with live progress while it runs."""

    workflow = models.ForeignKey(IntegrationWorkflow, on_delete=models.CASCADE, related_name="runs")
    operation_type = models.CharField(max_length=12, choices=RunOperation.choices)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    task_id = models.CharField(max_length=64, blank=True)
    records_processed = models.PositiveIntegerField(default=0)
    records_succeeded = models.PositiveIntegerField(default=0, help_text="Records written or deleted.")
    records_failed = models.PositiveIntegerField(default=0)
    records_unchanged = models.PositiveIntegerField(default=0)
    echoes_suppressed = models.PositiveIntegerField(default=0)
    conflicts_opened = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True, help_text="Writes by direction and operation.")
    errors = models.JSONField(default=list, blank=True, help_text="The first error samples, with their class.")
    error_counts = models.JSONField(default=dict, blank=True, help_text="Errors by class.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_estimated = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True, help_text="Execution time.")

    class Meta:
        ordering = ("-started_at",)
        indexes = [models.Index(fields=("workflow", "-started_at"), name="sync_run_by_workflow")]

    def __str__(self) -> str:
        return f"{self.get_operation_type_display()} {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == RunStatus.RUNNING

    @property
    def progress_percent(self) -> float | None:
        if not self.progress_estimated:
            return None
        return round(100 * min(self.progress_done / self.progress_estimated, 1.0), 1)


class ConflictStatus(models.TextChoices):
    OPEN = "open", "Waiting for an operator"
    RESOLVED = "resolved", "Decided, being applied"
    APPLIED = "applied", "Applied"
    SUPERSEDED = "superseded", "Both sides agree again"
    FAILED = "failed", "Could not be applied"


class ConflictChoice(models.TextChoices):
    SOURCE = "source", "Keep the source's value"
    TARGET = "target", "Keep the target's value"
    CUSTOM = "custom", "Write another value"


class Conflict(OrganizationOwnedModel):
    """A field both sides changed since the last sync, held for an operator (the `manual` policy).

    Values are in the target's terms (the source value as the mapping would write it).
    """

    workflow = models.ForeignKey(IntegrationWorkflow, on_delete=models.CASCADE, related_name="conflicts")
    link = models.ForeignKey(RecordLink, on_delete=models.CASCADE, related_name="conflicts")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    field = models.CharField(max_length=255, help_text="The target field.")
    base_value = models.JSONField(null=True, blank=True)
    source_value = models.JSONField(null=True, blank=True)
    target_value = models.JSONField(null=True, blank=True)
    source_record_id = models.CharField(max_length=255)
    target_record_id = models.CharField(max_length=255)
    source_modified_at = models.DateTimeField(null=True, blank=True)
    target_modified_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ConflictStatus.choices, default=ConflictStatus.OPEN)
    choice = models.CharField(max_length=8, choices=ConflictChoice.choices, blank=True)
    resolved_value = models.JSONField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("link", "field"),
                condition=Q(status__in=("open", "resolved")),
                name="sync_conflict_one_open_per_field",
            )
        ]
        indexes = [models.Index(fields=("workflow", "status"), name="sync_conflict_by_status")]

    def __str__(self) -> str:
        return f"{self.field} on {self.source_record_id} <-> {self.target_record_id} ({self.status})"


class MovementDirection(models.TextChoices):
    TO_TARGET = "to_target", "Source to target"
    TO_SOURCE = "to_source", "Target to source"


class MovementOperation(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    TOMBSTONE = "tombstone", "Tombstoned"


class DataMovement(OrganizationOwnedModel):
    """One record written or deleted by a workflow. Never changed once written (PostgreSQL refuses UPDATE).

    Workflow, run and link are kept without foreign-key constraints: the trail outlives what it describes.
    """

    workflow = models.ForeignKey(
        IntegrationWorkflow, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    run = models.ForeignKey(SyncRun, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    link = models.ForeignKey(RecordLink, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    direction = models.CharField(max_length=10, choices=MovementDirection.choices)
    operation = models.CharField(max_length=10, choices=MovementOperation.choices)
    source_record_id = models.CharField(max_length=255, blank=True, db_index=True)
    target_record_id = models.CharField(max_length=255, blank=True, db_index=True)
    fields_changed = models.JSONField(default=list, blank=True)
    before_hash = models.CharField(max_length=64, blank=True, help_text="Mapped fields of the written side, before.")
    after_hash = models.CharField(max_length=64, blank=True, help_text="Mapped fields of the written side, after.")
    actor_type = models.CharField(max_length=32, help_text="user or system, as in the audit log.")
    actor_id = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    origin = models.JSONField(
        default=dict, blank=True, help_text="Where the change came from: connector, record, its clock, delivery."
    )
    # No database constraint either: the audit table belongs to the security app and only ever grows.
    audit_event = models.ForeignKey(
        "security.AuditEvent", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("-occurred_at",)
        indexes = [models.Index(fields=("workflow", "-occurred_at"), name="sync_movement_by_workflow")]

    def __str__(self) -> str:
        return f"{self.operation} {self.direction} {self.source_record_id} -> {self.target_record_id}"


class FailedRecordStatus(models.TextChoices):
    OPEN = "open", "Failing"
    RESOLVED = "resolved", "Went through later"
    DISCARDED = "discarded", "Discarded by an operator"


class FailedRecord(OrganizationOwnedModel):
    """A record a run could not carry across. It stays here, with the reason, until a later attempt succeeds."""

    workflow = models.ForeignKey(IntegrationWorkflow, on_delete=models.CASCADE, related_name="failed_records")
    side = models.CharField(max_length=6, choices=Side.choices, help_text="Where the record that failed lives.")
    record_id = models.CharField(max_length=255)
    operation = models.CharField(max_length=10, choices=MovementOperation.choices)
    error_class = models.CharField(max_length=60)
    error_code = models.CharField(max_length=60, blank=True)
    reason = models.TextField()
    details = models.JSONField(default=list, blank=True, help_text="Per-field problems, for validation failures.")
    retryable = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=FailedRecordStatus.choices, default=FailedRecordStatus.OPEN)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    last_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-last_failed_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("workflow", "side", "record_id"),
                condition=Q(status="open"),
                name="sync_failed_record_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.record_id}: {self.error_class}"

    def as_ref(self) -> dict[str, Any]:
        return {"side": self.side, "id": self.record_id}


class WorkflowDraftStatus(models.TextChoices):
    OPEN = "open", "Waiting for connectors"
    COMPLETED = "completed", "Completed into a workflow"
    WITHDRAWN = "withdrawn", "Withdrawn (its extension was uninstalled)"


class WorkflowDraft(OrganizationOwnedModel):
    """A workflow definition without its connectors, e.g. from an installed marketplace extension.

    The organization completes it by choosing a connector for each side; the workflow is then created and
    checked like any other (`complete_workflow_draft`).
    """

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    source_provider = models.CharField(max_length=40, help_text="The provider the source connector must be.")
    source_object_type = models.CharField(max_length=80)
    target_provider = models.CharField(max_length=40, help_text="The provider the target connector must be.")
    target_object_type = models.CharField(max_length=80)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.ONE_WAY)
    mappings = models.JSONField(default=list)
    conflict_policy = models.CharField(
        max_length=20, choices=ConflictPolicy.choices, default=ConflictPolicy.SOURCE_WINS
    )
    interval_seconds = models.PositiveIntegerField(default=300)
    notes = models.JSONField(default=list, blank=True, help_text="What could not be carried over from the source.")
    installed_from = models.CharField(max_length=80, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=WorkflowDraftStatus.choices, default=WorkflowDraftStatus.OPEN)
    workflow = models.ForeignKey(
        IntegrationWorkflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} (draft, {self.status})"
