from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.compliance import services
from apps.compliance.models import (
    Assessment,
    ComplianceScore,
    ControlCheckResult,
    Evidence,
    Finding,
    FindingStatus,
    Framework,
    Requirement,
    RequirementResult,
)
from apps.core.exceptions import BusinessRuleViolation


class RequirementInline(admin.TabularInline[Requirement, Any]):
    model = Requirement
    extra = 0
    fields = ("code", "section", "title", "checks")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Framework)
class FrameworkAdmin(admin.ModelAdmin[Framework]):
    """Outlines come from YAML (`load_compliance_frameworks`); they are read here, not edited."""

    list_display = ("code", "name", "version")
    search_fields = ("code", "name")
    readonly_fields = ("code", "name", "version", "description")
    inlines = [RequirementInline]
    actions = ["reload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Reload every outline from YAML")
    def reload(self, request: HttpRequest, queryset: QuerySet[Framework]) -> None:
        loaded = services.load_frameworks()
        self.message_user(request, f"{len(loaded)} frameworks loaded.")


@admin.register(Requirement)
class RequirementAdmin(admin.ModelAdmin[Requirement]):
    list_display = ("code", "title", "framework", "section")
    list_filter = ("framework",)
    search_fields = ("code", "title")
    list_select_related = ("framework",)
    readonly_fields = ("framework", "code", "section", "title", "description", "checks", "position")


class RequirementResultInline(admin.TabularInline[RequirementResult, Any]):
    model = RequirementResult
    extra = 0
    fields = ("requirement", "status", "automated", "notes", "checked_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin[Assessment]):
    list_display = ("organization", "framework", "assessment_type", "status", "score", "audit_date", "next_audit_date")
    list_filter = ("framework", "assessment_type", "status")
    search_fields = ("=organization__slug", "auditor", "=id")
    list_select_related = ("organization", "framework")
    raw_id_fields = ("organization", "created_by")
    readonly_fields = ("organization", "framework", "assessment_type", "score", "created_by", "created_at")
    inlines = [RequirementResultInline]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Assessment, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.ASSESSMENT_FIELDS}
        if changes:
            fresh = Assessment.objects.get(pk=obj.pk)
            services.update_assessment(assessment=fresh, actor=request.user, **changes)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin[Finding]):
    list_display = ("title", "organization", "severity", "status", "owner", "due_date", "check_code")
    list_filter = ("status", "severity", "check_code")
    search_fields = ("title", "=organization__slug", "=id")
    list_select_related = ("organization", "owner")
    raw_id_fields = ("organization", "assessment", "requirement", "owner")
    readonly_fields = ("organization", "assessment", "requirement", "check_code", "closed_at", "created_at")
    show_full_result_count = False
    actions = ["accept_risk"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Finding, form: Any, change: bool) -> None:
        allowed = {"owner", "due_date", "status", "resolution", "severity"}
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in allowed}
        if changes:
            try:
                services.update_finding(finding=Finding.objects.get(pk=obj.pk), actor=request.user, **changes)
            except BusinessRuleViolation as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Accept the risk of the selected findings")
    def accept_risk(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        for finding in queryset.filter(status=FindingStatus.OPEN):
            services.update_finding(
                finding=finding,
                actor=request.user,
                status=FindingStatus.ACCEPTED,
                resolution="Risk accepted by operations.",
            )
        self.message_user(request, "Risk accepted.")


@admin.register(Evidence)
class EvidenceAdmin(admin.ModelAdmin[Evidence]):
    list_display = ("filename", "organization", "assessment", "size", "sha256", "collected_at", "expires_at")
    search_fields = ("filename", "=sha256", "=organization__slug")
    list_select_related = ("organization", "assessment")
    raw_id_fields = ("organization", "assessment", "requirement", "uploaded_by")
    readonly_fields = [f.name for f in Evidence._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ControlCheckResult)
class ControlCheckResultAdmin(admin.ModelAdmin[ControlCheckResult]):
    list_display = ("ran_at", "organization", "check_code", "status", "reason")
    list_filter = ("check_code", "status")
    search_fields = ("=organization__slug",)
    list_select_related = ("organization",)
    readonly_fields = ("organization", "check_code", "status", "reason", "measured", "ran_at")
    date_hierarchy = "ran_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ComplianceScore)
class ComplianceScoreAdmin(admin.ModelAdmin[ComplianceScore]):
    list_display = ("date", "organization", "framework", "score", "passed", "failed", "not_tested")
    list_filter = ("framework",)
    search_fields = ("=organization__slug",)
    list_select_related = ("organization", "framework")
    readonly_fields = ("organization", "framework", "date", "score", "passed", "failed", "not_tested")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
