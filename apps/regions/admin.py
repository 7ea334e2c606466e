from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.accounts.admin import operator_of
from apps.core.exceptions import BusinessRuleViolation
from apps.regions import backups, monitoring, replication, services
from apps.regions.models import (
    BackupRecord,
    DirectoryEntry,
    DrillRecord,
    OrganizationMove,
    OutboxDelivery,
    OutboxMessage,
    Region,
    RegionHealthSample,
    RegionStatus,
    ResidencyRule,
)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Records of what happened (replication, backups, drills): operators read them, services write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ResidencyRuleInline(admin.TabularInline[ResidencyRule, Region]):
    model = ResidencyRule
    extra = 0
    fields = ("effect", "location_pattern", "organization", "reason", "is_active")
    readonly_fields = fields
    raw_id_fields = ("organization",)
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _status_action(status: str) -> Any:
    def action(modeladmin: RegionAdmin, request: HttpRequest, queryset: QuerySet[Region]) -> None:
        for region in queryset:
            services.set_region_status(
                region=region, status=status, reason="set by an operator", actor=operator_of(request)
            )
        modeladmin.message_user(request, f"Marked {queryset.count()} region(s) {status}.")

    action.__name__ = f"mark_{status}"
    return admin.action(description=f"Mark selected regions {status}")(action)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin[Region]):
    list_display = ("code", "name", "status", "public_url", "primary_database", "standby_database", "last_failover_at")
    list_filter = ("status",)
    search_fields = ("code", "name")
    readonly_fields = (
        "id",
        "code",
        "status",
        "status_reason",
        "primary_database",
        "standby_database",
        "database_generation",
        "last_failover_at",
        "directory_version",
        "created_at",
        "updated_at",
    )
    fields = (
        "id",
        "code",
        "name",
        "public_url",
        "replication_url",
        "certifications",
        "status",
        "status_reason",
        "primary_database",
        "standby_database",
        "database_generation",
        "last_failover_at",
        "directory_version",
        "created_at",
        "updated_at",
    )
    inlines = [ResidencyRuleInline]
    actions = [*(_status_action(s) for s in RegionStatus.values), "send_directory_snapshot"]
    change_list_template = "admin/regions/region/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New regions come from `manage.py register_region`, which also sends them the directory.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Region | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Region, form: Any, change: bool) -> None:
        data = form.cleaned_data
        services.register_region(
            code=obj.code,
            name=data["name"],
            public_url=data["public_url"],
            replication_url=data.get("replication_url") or "",
            certifications=list(data.get("certifications") or []),
            actor=operator_of(request),
        )

    @admin.action(description="Send the whole directory to the selected regions")
    def send_directory_snapshot(self, request: HttpRequest, queryset: QuerySet[Region]) -> None:
        total = sum(replication.enqueue_snapshot(region=region) for region in queryset)
        self.message_user(request, f"Queued {total} directory entries.")

    def get_urls(self) -> list[Any]:
        return [
            path("health/", self.admin_site.admin_view(self.health_view), name="regions_region_health"),
            *super().get_urls(),
        ]

    def health_view(self, request: HttpRequest) -> HttpResponse:
        """The operator page: every region's status and health, replication backlog, backups and drills."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Region health",
            "overview": monitoring.gather(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/regions/region/health.html", context)


@admin.register(ResidencyRule)
class ResidencyRuleAdmin(admin.ModelAdmin[ResidencyRule]):
    list_display = ("region", "effect", "location_pattern", "organization", "reason", "is_active")
    list_filter = ("effect", "is_active", "region")
    list_select_related = ("region", "organization")
    search_fields = ("location_pattern", "reason", "organization__slug")
    raw_id_fields = ("organization",)
    fields = ("region", "organization", "effect", "location_pattern", "reason", "is_active")
    actions = ["enable", "disable"]

    def get_readonly_fields(self, request: HttpRequest, obj: ResidencyRule | None = None) -> Any:
        # A rule is replaced, not edited, so the audit log shows each rule as it was enforced.
        if obj is None:
            return ("is_active",)
        return ("region", "organization", "effect", "location_pattern", "reason", "is_active")

    def has_delete_permission(self, request: HttpRequest, obj: ResidencyRule | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ResidencyRule, form: Any, change: bool) -> None:
        if change:
            return
        try:
            created = services.add_residency_rule(
                region=obj.region,
                organization=obj.organization,
                effect=obj.effect,
                location_pattern=obj.location_pattern,
                reason=obj.reason,
                actor=operator_of(request),
            )
        except BusinessRuleViolation as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = created.pk

    @admin.action(description="Enable the selected rules")
    def enable(self, request: HttpRequest, queryset: QuerySet[ResidencyRule]) -> None:
        for rule in queryset.select_related("region"):
            services.set_residency_rule_active(rule=rule, active=True, actor=operator_of(request))

    @admin.action(description="Disable the selected rules")
    def disable(self, request: HttpRequest, queryset: QuerySet[ResidencyRule]) -> None:
        for rule in queryset.select_related("region"):
            services.set_residency_rule_active(rule=rule, active=False, actor=operator_of(request))


@admin.register(DirectoryEntry)
class DirectoryEntryAdmin(ReadOnlyAdmin):
    list_display = ("kind", "slug", "key", "region_code", "version", "origin_region_code", "is_deleted", "updated_at")
    list_filter = ("kind", "region_code", "is_deleted")
    search_fields = ("=key", "slug")
    show_full_result_count = False


class DeliveryInline(admin.TabularInline[OutboxDelivery, OutboxMessage]):
    model = OutboxDelivery
    extra = 0
    fields = ("region", "status", "attempts", "next_attempt_at", "delivered_at", "last_error")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "key", "version", "origin_region_code", "created_at")
    list_filter = ("kind",)
    search_fields = ("=key", "=event_id")
    inlines = [DeliveryInline]
    show_full_result_count = False


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "message", "region", "status", "attempts", "next_attempt_at", "delivered_at", "last_error")
    list_filter = ("status", "region")
    list_select_related = ("message", "region")
    raw_id_fields = ("message",)
    show_full_result_count = False
    actions = ["deliver_now"]

    @admin.action(description="Deliver pending changes now")
    def deliver_now(self, request: HttpRequest, queryset: QuerySet[OutboxDelivery]) -> None:
        report = replication.deliver_pending()
        level = messages.WARNING if report.failed else messages.INFO
        errors = "; ".join(f"{code}: {error}" for code, error in report.errors.items())
        self.message_user(request, f"Delivered {report.delivered}, failed {report.failed}. {errors}", level)


@admin.register(BackupRecord)
class BackupRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "region_code",
        "method",
        "status",
        "size_bytes",
        "sha256",
        "data_as_of",
        "location",
        "file_name",
    )
    list_filter = ("status", "method", "region_code")
    search_fields = ("=sha256", "file_name")
    date_hierarchy = "started_at"
    change_list_template = "admin/regions/backuprecord/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path("backup-now/", self.admin_site.admin_view(self.backup_now), name="regions_backuprecord_backup_now"),
            *super().get_urls(),
        ]

    def backup_now(self, request: HttpRequest) -> HttpResponseRedirect:
        if request.method == "POST":
            backup = backups.create_backup(actor=operator_of(request))
            if backup.status == "succeeded":
                self.message_user(request, f"Backup taken: {backup.file_name} (SHA-256 {backup.sha256}).")
            else:
                self.message_user(request, f"Backup FAILED: {backup.error}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:regions_backuprecord_changelist"))


@admin.register(DrillRecord)
class DrillRecordAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "region_code", "kind", "ok", "rpo_seconds", "rto_seconds", "backup")
    list_filter = ("kind", "ok", "region_code")
    list_select_related = ("backup",)
    raw_id_fields = ("backup",)


@admin.register(RegionHealthSample)
class RegionHealthSampleAdmin(ReadOnlyAdmin):
    list_display = (
        "sampled_at",
        "region_code",
        "database_ok",
        "database_latency_ms",
        "replica_lag_seconds",
        "broker_ok",
        "queue_depth",
        "requests",
        "error_rate",
        "latency_p95_ms",
        "outbox_pending",
    )
    list_filter = ("region_code", "database_ok", "broker_ok")
    show_full_result_count = False


@admin.register(OrganizationMove)
class OrganizationMoveAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization_slug", "source_region_code", "target_region_code", "status")
    list_filter = ("status", "target_region_code")
    search_fields = ("organization_slug", "=organization_id")
    raw_id_fields = ("requested_by",)
