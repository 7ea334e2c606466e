from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdminMixin

from apps.accounts import services
from apps.accounts.models import Invitation, Membership, Organization, Team, TeamMembership, User
from apps.core.exceptions import BusinessRuleViolation


def operator_of(request: HttpRequest) -> User:
    """The operator using the admin (the admin only serves signed-in staff)."""
    return cast(User, request.user)


def admin_link(obj: Any, label: str | None = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


class MembershipInline(admin.TabularInline[Membership, Any]):
    model = Membership
    extra = 0
    raw_id_fields = ("user", "organization")
    fields = ("user", "organization", "role", "created_at")
    readonly_fields = ("user", "organization", "role", "created_at")
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Role changes and removals go through the membership page, which calls the services.
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "full_name", "=id")
    readonly_fields = ("id", "date_joined", "last_login")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [MembershipInline]


class ServiceBackedAdmin(admin.ModelAdmin[Any]):
    """Admin whose saves and deletes go through services, so every operator change is audited."""

    def report(self, request: HttpRequest, exc: BusinessRuleViolation) -> None:
        self.message_user(request, exc.message, messages.ERROR)


@admin.register(Organization)
class OrganizationAdmin(ServiceBackedAdmin):
    list_display = ("name", "slug", "home_region_code", "is_active", "member_count", "created_at")
    list_filter = ("home_region_code", "is_active")
    search_fields = ("name", "slug", "=id")
    readonly_fields = ("id", "created_at", "updated_at", "audit_log")
    prepopulated_fields = {"slug": ("name",)}
    show_full_result_count = False
    fields = ("id", "name", "slug", "home_region_code", "is_active", "audit_log", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Organization | None = None) -> Any:
        # The slug is in URLs and the home region is where the data lives: neither changes in place.
        return (*self.readonly_fields, "slug", "home_region_code", "is_active")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An organization needs an owner: people create them from their account pages or the API.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        services.update_organization(organization=obj, actor=operator_of(request), name=form.cleaned_data["name"])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return int(obj._member_count)  # type: ignore[attr-defined]

    @admin.display(description="audit log")
    def audit_log(self, obj: Organization) -> str:
        url = reverse("admin:security_auditevent_changelist") + f"?chain={obj.pk}"
        return format_html('<a href="{}">Audit events of this organization</a>', url)


@admin.register(Membership)
class MembershipAdmin(ServiceBackedAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "organization__name", "organization__slug")
    raw_id_fields = ("user", "organization")
    readonly_fields = ("id", "user", "organization", "created_at", "updated_at")
    fields = ("id", "user", "organization", "role", "created_at", "updated_at")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # People join through invitations (or SSO provisioning), which check who may grant what.
        return False

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        current = Membership.objects.get(pk=obj.pk)
        try:
            services.change_member_role(membership=current, role=obj.role, actor=operator_of(request))
        except BusinessRuleViolation as exc:
            self.report(request, exc)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.remove_member(membership=obj, actor=operator_of(request))
        except BusinessRuleViolation as exc:
            self.report(request, exc)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            self.delete_model(request, membership)


class TeamMembershipInline(admin.TabularInline[TeamMembership, Any]):
    model = TeamMembership
    extra = 0
    raw_id_fields = ("membership",)
    readonly_fields = ("membership",)
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(GuardedModelAdminMixin, ServiceBackedAdmin):  # type: ignore[misc]  # guardian's stubs differ
    list_display = ("name", "organization", "parent", "slug", "created_at")
    list_select_related = ("organization", "parent")
    list_filter = ("organization__home_region_code",)
    search_fields = ("name", "slug", "organization__name", "organization__slug")
    raw_id_fields = ("organization", "parent")
    readonly_fields = ("id", "created_at", "updated_at")
    show_full_result_count = False
    fields = ("id", "organization", "name", "slug", "description", "parent", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Team | None = None) -> Any:
        return (*self.readonly_fields, "organization", "slug") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                services.update_team(
                    team=obj,
                    actor=operator_of(request),
                    name=data["name"],
                    description=data["description"],
                    parent=data["parent"],
                )
            else:
                created = services.create_team(
                    organization=data["organization"],
                    name=data["name"],
                    slug=data.get("slug") or "",
                    description=data["description"],
                    parent=data["parent"],
                    actor=operator_of(request),
                )
                obj.pk = created.pk
        except BusinessRuleViolation as exc:
            self.report(request, exc)

    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        try:
            services.delete_team(team=obj, actor=operator_of(request))
        except BusinessRuleViolation as exc:
            self.report(request, exc)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        for team in queryset:
            self.delete_model(request, team)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ("email", "organization", "role", "invitation_status", "expires_at", "invited_by", "created_at")
    list_select_related = ("organization", "invited_by")
    list_filter = ("role",)
    search_fields = ("email", "organization__name", "organization__slug")
    raw_id_fields = ("organization", "team", "invited_by", "accepted_by")
    readonly_fields = ("id", "token_hash", "accepted_at", "accepted_by", "revoked_at", "created_at", "updated_at")
    actions = ("revoke_selected",)
    show_full_result_count = False

    @admin.display(description="status")
    def invitation_status(self, obj: Invitation) -> str:
        return obj.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An invitation's token is only ever emailed; create them from the organization's pages or the API.
        return False

    @admin.action(description="Revoke selected invitations")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        revoked = 0
        for invitation in queryset:
            try:
                services.revoke_invitation(invitation=invitation, actor=operator_of(request))
                revoked += 1
            except BusinessRuleViolation as exc:
                self.message_user(request, f"{invitation.email}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Revoked {revoked} invitation(s).", messages.SUCCESS)
