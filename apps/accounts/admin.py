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
from apps.accounts.models import (
    EmailDomain,
    Invitation,
    Membership,
    OidcIdentityProvider,
    Organization,
    OrganizationOAuthApp,
    SamlIdentityProvider,
    ScimToken,
    SecurityPolicy,
    Team,
    TeamMembership,
    User,
    UserSession,
)
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


@admin.action(description="Deactivate: end sessions and revoke tokens")
def deactivate_users(modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]) -> None:
    for user in queryset:
        services.deactivate_user(user=user, actor=operator_of(request), reason="operator action")
    modeladmin.message_user(request, "Deactivated; their sessions and tokens are gone.", messages.SUCCESS)


@admin.action(description="Reactivate")
def reactivate_users(modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]) -> None:
    for user in queryset:
        services.reactivate_user(user=user, actor=operator_of(request), reason="operator action")
    modeladmin.message_user(request, "Reactivated.", messages.SUCCESS)


@admin.action(description="End all sessions (require sign-in again)")
def end_user_sessions(modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]) -> None:
    ended = sum(services.end_sessions(user=u, actor=operator_of(request), reason="ended_by_operator") for u in queryset)
    modeladmin.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)


@admin.action(description="Unlock after failed sign-ins")
def unlock_users(modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]) -> None:
    for user in queryset:
        services.unlock_account(user=user, actor=operator_of(request), reason="operator action")
    modeladmin.message_user(request, "Unlocked.", messages.SUCCESS)


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
    actions = [deactivate_users, reactivate_users, end_user_sessions, unlock_users]


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
    fields = ("id", "organization", "name", "slug", "description", "parent", "role", "created_at", "updated_at")

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
                    role=data["role"],
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


# -- Identity and access -----------------------------------------------------------------------------------------


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(admin.ModelAdmin[SecurityPolicy]):
    list_display = ("organization", "require_mfa", "require_sso", "idle_timeout_minutes", "absolute_timeout_minutes")
    list_filter = ("require_mfa", "require_sso")
    list_select_related = ("organization",)
    search_fields = ("organization__name", "organization__slug")
    raw_id_fields = ("organization", "break_glass_user")
    readonly_fields = ("id", "created_at", "updated_at")
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: SecurityPolicy, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            services.update_security_policy(
                organization=data.get("organization") or obj.organization,
                actor=operator_of(request),
                require_mfa=data["require_mfa"],
                require_sso=data["require_sso"],
                break_glass_user=data["break_glass_user"],
                idle_timeout_minutes=data["idle_timeout_minutes"],
                absolute_timeout_minutes=data["absolute_timeout_minutes"],
            )
        except BusinessRuleViolation as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(EmailDomain)
class EmailDomainAdmin(admin.ModelAdmin[EmailDomain]):
    list_display = ("domain", "organization", "verified_at", "created_at")
    list_filter = (("verified_at", admin.EmptyFieldListFilter),)
    list_select_related = ("organization",)
    search_fields = ("domain", "organization__name", "organization__slug")
    raw_id_fields = ("organization",)
    readonly_fields = ("id", "verified_at", "created_at", "updated_at")
    actions = ("verify_selected",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Organizations claim domains from their account pages; operators verify them here.
        return False

    @admin.action(description="Mark selected claims verified (after checking the DNS record)")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[EmailDomain]) -> None:
        for claim in queryset:
            services.verify_email_domain(claim=claim, actor=operator_of(request))
        self.message_user(request, "Verified.", messages.SUCCESS)


@admin.register(SamlIdentityProvider)
class SamlIdentityProviderAdmin(admin.ModelAdmin[SamlIdentityProvider]):
    list_display = ("organization", "entity_id", "is_enabled", "default_role", "updated_at")
    list_filter = ("is_enabled",)
    list_select_related = ("organization",)
    search_fields = ("organization__name", "organization__slug", "entity_id")
    raw_id_fields = ("organization",)
    readonly_fields = ("id", "entity_id", "metadata_fetched_at", "created_at", "updated_at")
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: SamlIdentityProvider, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            services.configure_saml_idp(
                organization=data.get("organization") or obj.organization,
                actor=operator_of(request),
                metadata_xml=data["metadata_xml"],
                metadata_url=data["metadata_url"],
                attribute_map=data["attribute_map"],
                group_map=data["group_map"],
                default_role=data["default_role"],
                is_enabled=data["is_enabled"],
            )
        except BusinessRuleViolation as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(OidcIdentityProvider)
class OidcIdentityProviderAdmin(admin.ModelAdmin[OidcIdentityProvider]):
    list_display = ("organization", "issuer", "client_id", "is_enabled", "updated_at")
    list_filter = ("is_enabled",)
    list_select_related = ("organization",)
    search_fields = ("organization__name", "organization__slug", "issuer", "client_id")
    raw_id_fields = ("organization",)
    # The secret is set from the organization's pages; operators never see it.
    exclude = ("client_secret",)
    readonly_fields = ("id", "created_at", "updated_at")
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: OidcIdentityProvider, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            services.configure_oidc_idp(
                organization=data.get("organization") or obj.organization,
                actor=operator_of(request),
                issuer=data["issuer"],
                client_id=data["client_id"],
                groups_claim=data["groups_claim"],
                group_map=data["group_map"],
                default_role=data["default_role"],
                is_enabled=data["is_enabled"],
            )
        except BusinessRuleViolation as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin[UserSession]):
    list_display = ("user", "method", "organization", "ip_address", "last_seen_at", "ended_at", "end_reason")
    list_filter = ("method", ("ended_at", admin.EmptyFieldListFilter))
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "=ip_address")
    raw_id_fields = ("user", "organization")
    readonly_fields = [f.name for f in UserSession._meta.fields]
    actions = ("end_selected",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="End selected sessions")
    def end_selected(self, request: HttpRequest, queryset: QuerySet[UserSession]) -> None:
        for tracked in queryset.filter(ended_at__isnull=True):
            services.end_session(user_session=tracked, actor=operator_of(request), reason="ended_by_operator")
        self.message_user(request, "Ended.", messages.SUCCESS)


@admin.register(OrganizationOAuthApp)
class OrganizationOAuthAppAdmin(admin.ModelAdmin[OrganizationOAuthApp]):
    list_display = ("application", "organization", "allowed_scopes", "created_by", "created_at")
    list_select_related = ("application", "organization", "created_by")
    search_fields = ("application__name", "application__client_id", "organization__name", "organization__slug")
    raw_id_fields = ("organization", "application", "created_by")
    readonly_fields = ("id", "organization", "application", "allowed_scopes", "created_by", "created_at", "updated_at")
    actions = ("delete_selected_apps",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Organizations register apps from their account pages, which show the secret once.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Delete selected apps and revoke their tokens")
    def delete_selected_apps(self, request: HttpRequest, queryset: QuerySet[OrganizationOAuthApp]) -> None:
        for registration in queryset.select_related("application"):
            services.delete_oauth_app(registration=registration, actor=operator_of(request))
        self.message_user(request, "Deleted.", messages.SUCCESS)


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin[ScimToken]):
    list_display = ("name", "prefix", "organization", "last_used_at", "revoked_at", "created_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("organization",)
    search_fields = ("name", "prefix", "organization__name", "organization__slug")
    raw_id_fields = ("organization", "created_by")
    readonly_fields = (
        "id",
        "organization",
        "name",
        "prefix",
        "token_hash",
        "created_by",
        "last_used_at",
        "revoked_at",
        "created_at",
        "updated_at",
    )
    actions = ("revoke_selected",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ScimToken]) -> None:
        for token in queryset:
            services.revoke_scim_token(token=token, actor=operator_of(request))
        self.message_user(request, "Revoked.", messages.SUCCESS)
