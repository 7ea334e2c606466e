from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.admin import operator_of
from apps.core.exceptions import BusinessRuleViolation
from apps.gateway import services
from apps.gateway.models import (
    ApiClient,
    ApiKey,
    CertificateAuthority,
    ClientCertificate,
    IdempotencyRecord,
    OrganizationLimit,
    Plan,
    UsageDay,
    UsageRecord,
)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin[Plan]):
    list_display = ("name", "slug", "rate_per_minute", "burst", "monthly_quota", "is_default")
    list_filter = ("is_default",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(OrganizationLimit)
class OrganizationLimitAdmin(admin.ModelAdmin[OrganizationLimit]):
    list_display = ("organization", "plan", "updated_at")
    list_select_related = ("organization", "plan")
    raw_id_fields = ("organization",)
    search_fields = ("organization__name", "organization__slug")


class ApiKeyInline(admin.TabularInline[ApiKey, Any]):
    model = ApiKey
    extra = 0
    fields = ("name", "display_prefix", "scopes", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    list_display = ("name", "organization", "status", "plan", "owner", "created_at")
    list_filter = ("status", "plan")
    list_select_related = ("organization", "plan", "owner")
    search_fields = ("name", "=id", "organization__name", "organization__slug", "=oauth_client_id")
    raw_id_fields = ("organization", "owner")
    readonly_fields = ("id", "created_at", "updated_at")
    show_full_result_count = False
    inlines = [ApiKeyInline]
    actions = ["revoke_all_keys"]
    fields = (
        "id",
        "organization",
        "name",
        "description",
        "owner",
        "plan",
        "status",
        "allowed_scopes",
        "ip_allowlist",
        "request_transform",
        "response_transform",
        "oauth_client_id",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: ApiClient | None = None) -> Any:
        # Everything a customer controls goes through the services (validated and audited); operators
        # set the plan and the OAuth application link here.
        customer_fields = (
            "organization",
            "name",
            "description",
            "owner",
            "allowed_scopes",
            "ip_allowlist",
            "request_transform",
            "response_transform",
        )
        return (*self.readonly_fields, *customer_fields) if obj else self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        changed = set(form.changed_data)
        if "status" in changed:
            try:
                services.update_api_client(client=obj, actor=operator_of(request), status=obj.status)
            except BusinessRuleViolation as exc:
                self.message_user(request, exc.message, messages.ERROR)
        if changed & {"plan", "oauth_client_id"}:
            super().save_model(request, obj, form, change)

    @admin.action(description="Revoke every key of the selected clients")
    def revoke_all_keys(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        count = sum(
            services.revoke_api_keys(client=client, actor=operator_of(request), reason="Revoked by an operator")
            for client in queryset.select_related("organization")
        )
        self.message_user(request, f"{count} keys revoked.")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "display_prefix", "client", "organization", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("environment",)
    list_select_related = ("client", "organization")
    search_fields = ("=key_id", "name", "client__name", "organization__slug")
    raw_id_fields = ("client", "organization")
    show_full_result_count = False
    actions = ["revoke"]
    # The hash is shown to nobody: it is of no use to an operator and one less thing to leak.
    exclude = ("secret_hash",)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.revoke_api_key(key=key, actor=operator_of(request), reason="Revoked by an operator")
        self.message_user(request, "Keys revoked.")


@admin.register(ClientCertificate)
class ClientCertificateAdmin(ReadOnlyAdmin):
    list_display = ("name", "fingerprint_sha256", "client", "organization", "not_after", "revoked_at")
    list_select_related = ("client", "organization")
    search_fields = ("=fingerprint_sha256", "name", "client__name")
    raw_id_fields = ("client", "organization")
    show_full_result_count = False


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "subject", "not_after", "revoked_at")
    list_select_related = ("organization",)
    search_fields = ("=fingerprint_sha256", "name", "organization__slug")
    raw_id_fields = ("organization",)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "method", "operation", "status_code", "latency_us", "client_id", "organization_id")
    list_filter = ("status_code", "credential")
    search_fields = ("=client__id", "=request_id", "=key_id")
    date_hierarchy = "occurred_at"
    ordering = ("-id",)
    raw_id_fields = ("client", "organization")
    # Millions of rows: never count them for the pager.
    show_full_result_count = False
    list_per_page = 100


@admin.register(UsageDay)
class UsageDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "client", "organization", "calls", "throttled", "client_errors", "server_errors")
    list_select_related = ("client", "organization")
    list_filter = ("day",)
    search_fields = ("client__name", "organization__slug", "=client__id")
    date_hierarchy = "day"
    raw_id_fields = ("client", "organization")
    show_full_result_count = False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "client", "method", "path", "state", "response_status", "created_at", "expires_at")
    list_select_related = ("client",)
    list_filter = ("state",)
    search_fields = ("=key", "=client__id")
    raw_id_fields = ("client",)
    exclude = ("response_body",)
    show_full_result_count = False
