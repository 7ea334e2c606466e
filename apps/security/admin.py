from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from apps.core.exceptions import BusinessRuleViolation
from apps.security import services
from apps.security.models import (
    AccountLock,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditVerification,
    IPRule,
    ReauthRequirement,
    ResponseAction,
    ResponseStatus,
    SecurityAlertChannel,
    SecurityEvent,
    SecurityEventNote,
    ThreatFeed,
)
from apps.security.services import verify_audit_chains


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """The audit log is evidence: operators read it, nobody edits or deletes it here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "action", "chain", "seq", "actor_type", "actor_id", "target_type", "target_id")
    list_filter = ("actor_type", "occurred_at")
    search_fields = ("=chain", "=actor_id", "=target_id", "action", "=request_id")
    date_hierarchy = "occurred_at"
    ordering = ("-id",)
    # The table only grows; counting it on every page view would get slower every day.
    show_full_result_count = False
    list_per_page = 100


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("chain", "seq", "hash", "updated_at")
    search_fields = ("=chain",)


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "ok", "chains_checked", "events_checked", "broken_chain", "broken_seq")
    list_filter = ("ok",)
    change_list_template = "admin/security/auditverification/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path("verify-now/", self.admin_site.admin_view(self.verify_now), name="security_auditverification_verify"),
            *super().get_urls(),
        ]

    def verify_now(self, request: HttpRequest) -> HttpResponseRedirect:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:security_auditverification_changelist"))
        verification = verify_audit_chains()
        if verification.ok:
            self.message_user(request, f"Audit log intact: {verification.events_checked} events checked.")
        else:
            self.message_user(request, f"Audit log BROKEN: {verification.reason}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:security_auditverification_changelist"))


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "name", "chains", "key_id", "sha256")
    search_fields = ("name", "=sha256")
    show_full_result_count = False


# -- The operator queue ------------------------------------------------------------------------------------


class ResponseActionInline(admin.TabularInline[ResponseAction, Any]):
    model = ResponseAction
    extra = 0
    can_delete = False
    fields = ("kind", "status", "automatic", "detail", "expires_at", "reversed_at", "reversed_by")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SecurityEventNoteInline(admin.TabularInline[SecurityEventNote, Any]):
    model = SecurityEventNote
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SecurityEventAdminForm(forms.ModelForm):
    new_note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Add a note")
    resolution_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Resolution (used by the resolve actions)"
    )

    class Meta:
        model = SecurityEvent
        fields = ("assigned_to",)


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin[SecurityEvent]):
    """The operators' queue: open events first, newest first; assign, note, resolve, reverse responses."""

    form = SecurityEventAdminForm
    list_display = (
        "last_seen_at",
        "severity",
        "event_type",
        "status",
        "title",
        "organization",
        "source_ip",
        "occurrences",
        "assigned_to",
    )
    list_filter = ("status", "severity", "event_type", ("assigned_to", admin.EmptyFieldListFilter))
    search_fields = ("=id", "title", "=source_ip", "=user__email", "=organization__slug", "=resource_id")
    list_select_related = ("organization", "assigned_to")
    raw_id_fields = ("assigned_to",)
    date_hierarchy = "last_seen_at"
    show_full_result_count = False
    inlines = [ResponseActionInline, SecurityEventNoteInline]
    actions = ["assign_to_me", "resolve", "mark_false_positive"]
    readonly_fields = (
        "id",
        "organization",
        "event_type",
        "severity",
        "status",
        "title",
        "source_ip",
        "user",
        "resource_type",
        "resource_id",
        "data",
        "detection_method",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "resolved_at",
        "resolved_by",
        "resolution",
    )
    fieldsets = (
        (None, {"fields": ("id", "title", "event_type", "severity", "status", "organization", "detection_method")}),
        ("Subject", {"fields": ("source_ip", "user", "resource_type", "resource_id", "data")}),
        ("Timeline", {"fields": ("first_seen_at", "last_seen_at", "occurrences")}),
        (
            "Handling",
            {"fields": ("assigned_to", "new_note", "resolution_text", "resolved_at", "resolved_by", "resolution")},
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SecurityEvent]:
        return super().get_queryset(request).order_by("resolved_at", "-last_seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: SecurityEvent, form: Any, change: bool) -> None:
        # Only the assignee and notes are edited here, each through its service.
        if "assigned_to" in form.changed_data:
            services.assign_security_event(event=obj, assignee=obj.assigned_to, actor=request.user)
        if form.cleaned_data.get("new_note"):
            services.add_security_event_note(event=obj, author=request.user, body=form.cleaned_data["new_note"])
        if form.cleaned_data.get("resolution_text") and obj.is_open:
            services.resolve_security_event(
                event=obj, actor=request.user, resolution=form.cleaned_data["resolution_text"]
            )

    @admin.action(description="Assign to me")
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[SecurityEvent]) -> None:
        for event in queryset:
            services.assign_security_event(event=event, assignee=request.user, actor=request.user)
        self.message_user(request, f"{queryset.count()} events assigned to you.")

    def _resolve(self, request: HttpRequest, queryset: QuerySet[SecurityEvent], false_positive: bool) -> None:
        done = 0
        for event in queryset:
            if event.is_open:
                services.resolve_security_event(
                    event=event,
                    actor=request.user,
                    resolution="False positive (bulk)" if false_positive else "Resolved (bulk)",
                    false_positive=false_positive,
                )
                done += 1
        self.message_user(request, f"{done} events closed.")

    @admin.action(description="Resolve")
    def resolve(self, request: HttpRequest, queryset: QuerySet[SecurityEvent]) -> None:
        self._resolve(request, queryset, False)

    @admin.action(description="Mark as false positive")
    def mark_false_positive(self, request: HttpRequest, queryset: QuerySet[SecurityEvent]) -> None:
        self._resolve(request, queryset, True)


@admin.register(ResponseAction)
class ResponseActionAdmin(admin.ModelAdmin[ResponseAction]):
    list_display = ("created_at", "kind", "status", "automatic", "event", "expires_at", "reversed_at")
    list_filter = ("kind", "status", "automatic")
    search_fields = ("=id", "=event__id")
    list_select_related = ("event",)
    raw_id_fields = ("event", "reversed_by", "organization")
    readonly_fields = [f.name for f in ResponseAction._meta.fields]
    show_full_result_count = False
    actions = ["reverse"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Reverse the selected responses")
    def reverse(self, request: HttpRequest, queryset: QuerySet[ResponseAction]) -> None:
        done = 0
        for action in queryset.filter(status=ResponseStatus.APPLIED):
            try:
                services.reverse_response(action=action, actor=request.user)
                done += 1
            except BusinessRuleViolation as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{done} responses reversed.")


@admin.register(AccountLock)
class AccountLockAdmin(admin.ModelAdmin[AccountLock]):
    list_display = ("user", "reason", "locked_until", "lifted_at", "created_at")
    list_filter = (("lifted_at", admin.EmptyFieldListFilter),)
    search_fields = ("=user__email", "reason")
    list_select_related = ("user",)
    raw_id_fields = ("user", "event", "lifted_by")
    readonly_fields = ("user", "event", "reason", "locked_until", "lifted_at", "lifted_by", "created_at")
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Lift the selected locks")
    def lift(self, request: HttpRequest, queryset: QuerySet[AccountLock]) -> None:
        for lock in queryset.filter(lifted_at__isnull=True):
            services.lift_account_lock(lock=lock, actor=request.user)
        self.message_user(request, "Locks lifted.")


@admin.register(ReauthRequirement)
class ReauthRequirementAdmin(admin.ModelAdmin[ReauthRequirement]):
    list_display = ("user", "required_at", "cancelled_at", "event")
    search_fields = ("=user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user", "event")
    readonly_fields = ("user", "event", "required_at", "cancelled_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class IPRuleAdminForm(forms.ModelForm):
    class Meta:
        model = IPRule
        fields = ("organization", "cidr", "action", "note", "expires_at")


@admin.register(IPRule)
class IPRuleAdmin(admin.ModelAdmin[IPRule]):
    """Global rules (no organization) are made here; organizations manage their own through the API."""

    form = IPRuleAdminForm
    list_display = ("cidr", "action", "organization", "source", "expires_at", "disabled_at", "note")
    list_filter = ("action", "source", ("organization", admin.EmptyFieldListFilter))
    search_fields = ("cidr", "note", "=organization__slug")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: IPRule, form: Any, change: bool) -> None:
        try:
            if change:
                changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "organization"}
                services.update_ip_rule(rule=obj, actor=request.user, **changes)
            else:
                created = services.create_ip_rule(
                    organization=obj.organization,
                    cidr=obj.cidr,
                    action=obj.action,
                    actor=request.user,
                    note=obj.note,
                    expires_at=obj.expires_at,
                )
                obj.pk = created.pk
        except BusinessRuleViolation as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: IPRule) -> None:
        services.delete_ip_rule(rule=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IPRule]) -> None:
        for rule in queryset:
            services.delete_ip_rule(rule=rule, actor=request.user)


@admin.register(ThreatFeed)
class ThreatFeedAdmin(admin.ModelAdmin[ThreatFeed]):
    list_display = ("name", "format", "enabled", "indicator_count", "last_fetched_at", "refresh_minutes")
    list_filter = ("format", "enabled")
    search_fields = ("name", "source")
    readonly_fields = ("last_fetched_at", "last_error", "last_sha256", "indicator_count")
    actions = ["import_now"]

    @admin.action(description="Import the selected feeds now")
    def import_now(self, request: HttpRequest, queryset: QuerySet[ThreatFeed]) -> None:
        for feed in queryset:
            feed = services.import_threat_feed(feed=feed)
            level = messages.WARNING if feed.last_error else messages.SUCCESS
            self.message_user(request, f"{feed.name}: {feed.indicator_count} networks. {feed.last_error}", level)


@admin.register(SecurityAlertChannel)
class SecurityAlertChannelAdmin(admin.ModelAdmin[SecurityAlertChannel]):
    list_display = ("organization", "email_enabled", "webhook_url")
    search_fields = ("=organization__slug",)
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
