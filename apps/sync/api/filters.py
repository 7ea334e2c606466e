import uuid

import django_filters
from django.db.models import Q, QuerySet

from apps.core.filtering import StrictBooleanFilter, StrictChoiceFilter, StrictIsoDateTimeFilter, StrictUUIDFilter
from apps.sync.merge import ConflictPolicy
from apps.sync.models import (
    Conflict,
    ConflictStatus,
    DataMovement,
    Direction,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    MovementDirection,
    MovementOperation,
    RunOperation,
    RunStatus,
    RunTrigger,
    Side,
    SyncRun,
    WorkflowDraft,
    WorkflowDraftStatus,
    WorkflowStatus,
)


class IntegrationWorkflowFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    status = StrictChoiceFilter(choices=WorkflowStatus.choices)
    direction = StrictChoiceFilter(choices=Direction.choices)
    conflict_policy = StrictChoiceFilter(choices=ConflictPolicy.choices)
    connector = StrictUUIDFilter(method="filter_connector", help_text="Either side's connector.")
    template_key = django_filters.CharFilter()

    class Meta:
        model = IntegrationWorkflow
        fields = ("name", "status", "direction", "conflict_policy", "connector", "template_key")

    def filter_connector(self, queryset: QuerySet[IntegrationWorkflow], name: str, value: uuid.UUID) -> QuerySet:
        return queryset.filter(Q(source_connector_id=value) | Q(target_connector_id=value))


class SyncRunFilterSet(django_filters.FilterSet):
    workflow = StrictUUIDFilter(field_name="workflow_id")
    status = StrictChoiceFilter(choices=RunStatus.choices)
    operation_type = StrictChoiceFilter(choices=RunOperation.choices)
    trigger = StrictChoiceFilter(choices=RunTrigger.choices)
    started_after = StrictIsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = StrictIsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = SyncRun
        fields = ("workflow", "status", "operation_type", "trigger", "started_after", "started_before")


class ConflictFilterSet(django_filters.FilterSet):
    workflow = StrictUUIDFilter(field_name="workflow_id")
    status = StrictChoiceFilter(choices=ConflictStatus.choices)
    field = django_filters.CharFilter()
    record = django_filters.CharFilter(method="filter_record", help_text="A record id on either side.")

    class Meta:
        model = Conflict
        fields = ("workflow", "status", "field", "record")

    def filter_record(self, queryset: QuerySet[Conflict], name: str, value: str) -> QuerySet:
        return queryset.filter(Q(source_record_id=value) | Q(target_record_id=value))


class FailedRecordFilterSet(django_filters.FilterSet):
    workflow = StrictUUIDFilter(field_name="workflow_id")
    status = StrictChoiceFilter(choices=FailedRecordStatus.choices)
    side = StrictChoiceFilter(choices=Side.choices)
    record_id = django_filters.CharFilter()
    error_class = django_filters.CharFilter()
    retryable = StrictBooleanFilter()

    class Meta:
        model = FailedRecord
        fields = ("workflow", "status", "side", "record_id", "error_class", "retryable")


class DataMovementFilterSet(django_filters.FilterSet):
    workflow = StrictUUIDFilter(field_name="workflow_id")
    run = StrictUUIDFilter(field_name="run_id")
    record = django_filters.CharFilter(
        method="filter_record", help_text="A record id on either side: who changed it and where it came from."
    )
    source_record_id = django_filters.CharFilter()
    target_record_id = django_filters.CharFilter()
    direction = StrictChoiceFilter(choices=MovementDirection.choices)
    operation = StrictChoiceFilter(choices=MovementOperation.choices)
    trigger = StrictChoiceFilter(choices=RunTrigger.choices)
    actor_id = django_filters.CharFilter()
    occurred_after = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = DataMovement
        fields = (
            "workflow",
            "run",
            "record",
            "source_record_id",
            "target_record_id",
            "direction",
            "operation",
            "trigger",
            "actor_id",
            "occurred_after",
            "occurred_before",
        )

    def filter_record(self, queryset: QuerySet[DataMovement], name: str, value: str) -> QuerySet:
        return queryset.filter(Q(source_record_id=value) | Q(target_record_id=value))


class WorkflowDraftFilterSet(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=WorkflowDraftStatus.choices)

    class Meta:
        model = WorkflowDraft
        fields = ("status",)
