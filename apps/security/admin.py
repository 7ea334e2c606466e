from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from apps.security.models import AuditChainHead, AuditEvent, AuditVerification
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
