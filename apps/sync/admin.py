"""The operators' view of integration workflows: runs with live progress, conflicts to decide, failed records."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.admin import operator_of
from apps.core.exceptions import BusinessRuleViolation
from apps.sync import services
from apps.sync.models import (
    Conflict,
    ConflictChoice,
    ConflictStatus,
    DataMovement,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    RecordLink,
    SyncRun,
    WorkflowDraft,
)
from apps.sync.paths import MISSING


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Written only by the engine: operators read these rows, never edit them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _report(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, exc: BusinessRuleViolation) -> None:
    details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in getattr(exc, "errors", []) or [])
    modeladmin.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)


@admin.register(IntegrationWorkflow)
class IntegrationWorkflowAdmin(admin.ModelAdmin[IntegrationWorkflow]):
    list_display = (
        "name",
        "organization",
        "source_connector",
        "target_connector",
        "direction",
        "conflict_policy",
        "status",
        "schedule_text",
        "last_run_at",
        "last_success_at",
    )
    list_filter = ("status", "direction", "conflict_policy", "delete_policy", "schedule_kind")
    search_fields = ("name", "=id", "organization__slug", "template_key")
    list_select_related = ("organization", "source_connector", "target_connector")
    raw_id_fields = ("organization", "source_connector", "target_connector", "periodic_task")
    readonly_fields = (
        "id",
        "organization",
        "template_key",
        "status",
        "periodic_task",
        "source_cursor",
        "target_cursor",
        "lease_token",
        "lease_expires_at",
        "last_run_at",
        "last_success_at",
        "runs_link",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "organization", "name", "description", "template_key", "status", "runs_link")}),
        (
            "Between",
            {"fields": ("source_connector", "source_object_type", "target_connector", "target_object_type")},
        ),
        (
            "Behaviour",
            {
                "fields": (
                    "direction",
                    "mappings",
                    "conflict_policy",
                    "field_authority",
                    "delete_policy",
                    "tombstone_values",
                )
            },
        ),
        ("Schedule", {"fields": ("schedule_kind", "interval_seconds", "cron_expression", "periodic_task")}),
        (
            "Progress",
            {
                "fields": (
                    "source_cursor",
                    "target_cursor",
                    "lease_token",
                    "lease_expires_at",
                    "last_run_at",
                    "last_success_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    actions = ("pause", "resume", "run_now")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Workflows are created through the API or from a template, where the mapping is checked as a whole.
        return False

    def save_model(self, request: HttpRequest, obj: IntegrationWorkflow, form: Any, change: bool) -> None:
        current = IntegrationWorkflow.objects.get(pk=obj.pk)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.DEFINITION_FIELDS}
        try:
            services.update_workflow(workflow=current, actor=operator_of(request), **changes)
        except BusinessRuleViolation as exc:
            _report(self, request, exc)

    def delete_model(self, request: HttpRequest, obj: IntegrationWorkflow) -> None:
        services.delete_workflow(workflow=obj, actor=operator_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IntegrationWorkflow]) -> None:
        for workflow in queryset:
            self.delete_model(request, workflow)

    @admin.display(description="runs")
    def runs_link(self, obj: IntegrationWorkflow) -> str:
        url = reverse("admin:sync_syncrun_changelist") + f"?workflow__id__exact={obj.pk}"
        return format_html('<a href="{}">Runs of this workflow</a>', url)

    @admin.action(description="Pause the selected workflows")
    def pause(self, request: HttpRequest, queryset: QuerySet[IntegrationWorkflow]) -> None:
        for workflow in queryset:
            services.set_workflow_paused(workflow=workflow, actor=operator_of(request), paused=True)
        self.message_user(request, f"Paused {queryset.count()} workflows.")

    @admin.action(description="Resume the selected workflows")
    def resume(self, request: HttpRequest, queryset: QuerySet[IntegrationWorkflow]) -> None:
        for workflow in queryset:
            services.set_workflow_paused(workflow=workflow, actor=operator_of(request), paused=False)
        self.message_user(request, f"Resumed {queryset.count()} workflows.")

    @admin.action(description="Run the selected workflows now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[IntegrationWorkflow]) -> None:
        queued = 0
        for workflow in queryset:
            try:
                services.request_workflow_run(workflow=workflow, actor=operator_of(request))
                queued += 1
            except BusinessRuleViolation as exc:
                self.message_user(request, f"{workflow.name}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Queued {queued} runs.")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "workflow",
        "operation_type",
        "trigger",
        "status",
        "progress",
        "records_processed",
        "records_succeeded",
        "records_failed",
        "conflicts_opened",
        "duration_ms",
    )
    list_filter = ("status", "operation_type", "trigger", "started_at")
    search_fields = ("=id", "=workflow__id", "workflow__name", "=task_id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "triggered_by")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)
    show_full_result_count = False

    @admin.display(description="progress")
    def progress(self, obj: SyncRun) -> str:
        percent = obj.progress_percent
        if percent is None:
            return f"{obj.progress_done}"
        return f"{obj.progress_done} / {obj.progress_estimated} ({percent}%)"


@admin.register(RecordLink)
class RecordLinkAdmin(ReadOnlyAdmin):
    list_display = ("workflow", "source_id", "target_id", "state", "last_synced_at")
    list_filter = ("state",)
    search_fields = ("=source_id", "=target_id", "=id", "=workflow__id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "last_run")
    show_full_result_count = False


class ConflictDecisionForm(forms.ModelForm[Conflict]):
    """Only the decision is editable: which value to keep, or (with `custom`) the value to write."""

    class Meta:
        model = Conflict
        fields = ("choice", "resolved_value")

    def clean_choice(self) -> str:
        choice = self.cleaned_data.get("choice") or ""
        if not choice:
            raise forms.ValidationError("Choose which value to keep.")
        return str(choice)


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin[Conflict]):
    form = ConflictDecisionForm
    list_display = (
        "created_at",
        "workflow",
        "field",
        "source_record_id",
        "target_record_id",
        "source_value",
        "target_value",
        "status",
        "choice",
        "resolved_by",
    )
    list_filter = ("status", "choice")
    search_fields = ("=source_record_id", "=target_record_id", "field", "=workflow__id")
    list_select_related = ("workflow", "resolved_by")
    raw_id_fields = ("workflow", "link", "run", "resolved_by")
    show_full_result_count = False
    actions = ("keep_source", "keep_target")
    readonly_fields = (
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
        "resolved_by",
        "resolved_at",
        "applied_at",
        "error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Conflict | None = None) -> Any:
        if obj is not None and obj.status != ConflictStatus.OPEN:
            return (*self.readonly_fields, "choice", "resolved_value")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Conflict, form: Any, change: bool) -> None:
        choice = form.cleaned_data.get("choice")
        value = form.cleaned_data.get("resolved_value") if choice == ConflictChoice.CUSTOM else MISSING
        try:
            services.resolve_conflict(
                conflict=Conflict.objects.get(pk=obj.pk), actor=operator_of(request), choice=choice, value=value
            )
        except BusinessRuleViolation as exc:
            _report(self, request, exc)

    def _decide(self, request: HttpRequest, queryset: QuerySet[Conflict], choice: str) -> None:
        decided = 0
        for conflict in queryset.filter(status=ConflictStatus.OPEN):
            services.resolve_conflict(conflict=conflict, actor=operator_of(request), choice=choice)
            decided += 1
        self.message_user(request, f"Decided {decided} conflicts; the values are being written.")

    @admin.action(description="Keep the source's value")
    def keep_source(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> None:
        self._decide(request, queryset, ConflictChoice.SOURCE)

    @admin.action(description="Keep the target's value")
    def keep_target(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> None:
        self._decide(request, queryset, ConflictChoice.TARGET)


@admin.register(FailedRecord)
class FailedRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "last_failed_at",
        "workflow",
        "side",
        "record_id",
        "error_class",
        "reason",
        "retryable",
        "attempts",
        "status",
    )
    list_filter = ("status", "side", "retryable", "error_class")
    search_fields = ("=record_id", "=workflow__id", "reason")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "last_run")
    show_full_result_count = False
    actions = ("retry", "discard")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Actions need the change permission; the rows themselves stay read-only (no editable fields).
        return obj is None and bool(request.user.is_staff)

    @admin.action(description="Retry the selected records now")
    def retry(self, request: HttpRequest, queryset: QuerySet[FailedRecord]) -> None:
        by_workflow: dict[Any, list[FailedRecord]] = defaultdict(list)
        for failed in queryset.filter(status=FailedRecordStatus.OPEN).select_related("workflow"):
            by_workflow[failed.workflow].append(failed)
        queued = 0
        for workflow, records in by_workflow.items():
            try:
                queued += services.retry_failed_records(workflow=workflow, actor=operator_of(request), failed=records)
            except BusinessRuleViolation as exc:
                self.message_user(request, f"{workflow.name}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Queued {queued} records.")

    @admin.action(description="Discard the selected records (stop retrying)")
    def discard(self, request: HttpRequest, queryset: QuerySet[FailedRecord]) -> None:
        discarded = 0
        for failed in queryset.filter(status=FailedRecordStatus.OPEN):
            services.discard_failed_record(failed=failed, actor=operator_of(request))
            discarded += 1
        self.message_user(request, f"Discarded {discarded} records.")


@admin.register(DataMovement)
class DataMovementAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "workflow",
        "operation",
        "direction",
        "source_record_id",
        "target_record_id",
        "fields_changed",
        "actor_type",
        "actor_id",
        "trigger",
        "audit_link",
    )
    list_filter = ("operation", "direction", "trigger", "actor_type")
    search_fields = ("=source_record_id", "=target_record_id", "=workflow__id", "=run__id", "=actor_id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "run", "link", "audit_event")
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at",)
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="audit event")
    def audit_link(self, obj: DataMovement) -> str:
        url = reverse("admin:security_auditevent_change", args=[obj.audit_event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.audit_event_id)


@admin.register(WorkflowDraft)
class WorkflowDraftAdmin(ReadOnlyAdmin):
    """Drafts are written by installations and completed by their organizations through the API."""

    list_display = ("name", "organization", "status", "source_provider", "target_provider", "installed_from")
    list_filter = ("status",)
    search_fields = ("name", "=id", "installed_from", "organization__slug")
    list_select_related = ("organization", "workflow")
    raw_id_fields = ("organization", "workflow")
