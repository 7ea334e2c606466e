from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.connectors.models import Connector
from apps.core.scoping import OrganizationScopedRelatedField
from apps.sync.merge import ConflictPolicy
from apps.sync.models import (
    Conflict,
    ConflictChoice,
    DataMovement,
    DeletePolicy,
    Direction,
    FailedRecord,
    IntegrationWorkflow,
    ScheduleKind,
    SyncRun,
    WorkflowDraft,
)

MAPPINGS_HELP = (
    "Field rules: `{source, target, direction, coerce, reverse_coerce, value_map, reverse_value_map, template, "
    "default, required}`. Checked against both object types' JSON Schemas when the workflow is saved."
)


class IntegrationWorkflowSerializer(serializers.ModelSerializer[IntegrationWorkflow]):
    open_conflicts = serializers.IntegerField(read_only=True, help_text="Conflicts waiting for an operator.")
    failing_records = serializers.IntegerField(read_only=True, help_text="Records on the failed list.")

    class Meta:
        model = IntegrationWorkflow
        fields = (
            "id",
            "name",
            "description",
            "template_key",
            "source_connector",
            "source_object_type",
            "target_connector",
            "target_object_type",
            "direction",
            "mappings",
            "conflict_policy",
            "field_authority",
            "delete_policy",
            "tombstone_values",
            "schedule_kind",
            "interval_seconds",
            "cron_expression",
            "status",
            "last_run_at",
            "last_success_at",
            "open_conflicts",
            "failing_records",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class IntegrationWorkflowWriteSerializer(serializers.Serializer[Any]):
    """The shape of a workflow definition; what it means is checked by the service (errors come back per field)."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    source_connector = OrganizationScopedRelatedField(queryset=Connector.objects.all())
    source_object_type = serializers.CharField(max_length=80)
    target_connector = OrganizationScopedRelatedField(queryset=Connector.objects.all())
    target_object_type = serializers.CharField(max_length=80)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    mappings = serializers.JSONField(help_text=MAPPINGS_HELP)
    conflict_policy = serializers.ChoiceField(choices=ConflictPolicy.choices, required=False)
    field_authority = serializers.JSONField(required=False, help_text='Target field -> "source" or "target".')
    delete_policy = serializers.ChoiceField(choices=DeletePolicy.choices, required=False)
    tombstone_values = serializers.JSONField(
        required=False, help_text='Values written on the surviving side: {"target": {...}, "source": {...}}.'
    )
    schedule_kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False)
    interval_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=120)
    paused = serializers.BooleanField(required=False, write_only=True, help_text="Create it paused.")


class IntegrationWorkflowUpdateSerializer(IntegrationWorkflowWriteSerializer):
    paused = None  # type: ignore[assignment]  # pausing has its own action


class WorkflowFromTemplateSerializer(serializers.Serializer[Any]):
    template = serializers.CharField(help_text="A template key (see `GET /workflows/templates/`).")
    source_connector = OrganizationScopedRelatedField(queryset=Connector.objects.all())
    target_connector = OrganizationScopedRelatedField(queryset=Connector.objects.all())
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    paused = serializers.BooleanField(required=False)


class WorkflowTemplateSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    source_provider = serializers.CharField()
    source_object_type = serializers.CharField()
    target_provider = serializers.CharField()
    target_object_type = serializers.CharField()
    direction = serializers.ChoiceField(choices=Direction.choices)
    mappings = serializers.JSONField()
    conflict_policy = serializers.ChoiceField(choices=ConflictPolicy.choices)
    field_authority = serializers.JSONField()
    delete_policy = serializers.ChoiceField(choices=DeletePolicy.choices)
    tombstone_values = serializers.JSONField()
    interval_seconds = serializers.IntegerField()


class RunQueuedSerializer(serializers.Serializer[Any]):
    queued = serializers.BooleanField()
    detail = serializers.CharField()


class SyncRunSerializer(serializers.ModelSerializer[SyncRun]):
    progress_percent = serializers.FloatField(read_only=True, allow_null=True, help_text="Done of estimated, live.")

    class Meta:
        model = SyncRun
        fields = (
            "id",
            "workflow",
            "operation_type",
            "trigger",
            "triggered_by",
            "status",
            "records_processed",
            "records_succeeded",
            "records_failed",
            "records_unchanged",
            "echoes_suppressed",
            "conflicts_opened",
            "stats",
            "errors",
            "error_counts",
            "progress_done",
            "progress_estimated",
            "progress_percent",
            "detail",
            "started_at",
            "heartbeat_at",
            "completed_at",
            "duration_ms",
        )
        read_only_fields = fields


class ConflictSerializer(serializers.ModelSerializer[Conflict]):
    class Meta:
        model = Conflict
        fields = (
            "id",
            "workflow",
            "link",
            "run",
            "field",
            "base_value",
            "source_value",
            "target_value",
            "source_record_id",
            "target_record_id",
            "source_modified_at",
            "target_modified_at",
            "status",
            "choice",
            "resolved_value",
            "resolved_by",
            "resolved_at",
            "applied_at",
            "error",
            "created_at",
        )
        read_only_fields = fields


class ConflictResolutionSerializer(serializers.Serializer[Any]):
    choice = serializers.ChoiceField(choices=ConflictChoice.choices)
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="With `custom`: the value to write, in the target's terms (null allowed).",
    )


class FailedRecordSerializer(serializers.ModelSerializer[FailedRecord]):
    class Meta:
        model = FailedRecord
        fields = (
            "id",
            "workflow",
            "side",
            "record_id",
            "operation",
            "error_class",
            "error_code",
            "reason",
            "details",
            "retryable",
            "attempts",
            "status",
            "first_failed_at",
            "last_failed_at",
            "last_run",
            "resolved_at",
        )
        read_only_fields = fields


class DataMovementSerializer(serializers.ModelSerializer[DataMovement]):
    audit_event = serializers.SerializerMethodField(help_text="The audit-log event recording this movement.")

    class Meta:
        model = DataMovement
        fields = (
            "id",
            "workflow",
            "run",
            "link",
            "direction",
            "operation",
            "source_record_id",
            "target_record_id",
            "fields_changed",
            "before_hash",
            "after_hash",
            "actor_type",
            "actor_id",
            "trigger",
            "origin",
            "audit_event",
            "occurred_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField())
    def get_audit_event(self, movement: DataMovement) -> int:
        return int(movement.audit_event_id)


class WorkflowDraftSerializer(serializers.ModelSerializer[WorkflowDraft]):
    class Meta:
        model = WorkflowDraft
        fields = (
            "id",
            "name",
            "description",
            "source_provider",
            "source_object_type",
            "target_provider",
            "target_object_type",
            "direction",
            "mappings",
            "conflict_policy",
            "interval_seconds",
            "notes",
            "installed_from",
            "status",
            "workflow",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class WorkflowDraftCompleteSerializer(serializers.Serializer[Any]):
    source_connector = OrganizationScopedRelatedField(
        queryset=Connector.objects.all(), help_text="A connector of the draft's `source_provider`."
    )
    target_connector = OrganizationScopedRelatedField(
        queryset=Connector.objects.all(), help_text="A connector of the draft's `target_provider`."
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    paused = serializers.BooleanField(
        required=False, default=True, help_text="Start the workflow paused (the default) to review it first."
    )
