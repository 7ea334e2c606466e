"""The account pages: your profile and organizations, the active organization's people and teams, invitations.

Views stay thin: they parse a form, check `user_can`, call one service and render. A service's refusal
(`BusinessRuleViolation`) is shown on the page next to the field or row it concerns, never as an error page.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from allauth.account.views import LoginView as AllauthLoginView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import services
from apps.accounts.forms import (
    InvitationForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationSettingsForm,
    ProfileForm,
    SignInEmailForm,
    SwitchOrganizationForm,
    TeamCreateForm,
    grantable_roles,
)
from apps.accounts.models import Invitation, InvitationStatus, Membership, Organization, Team, User
from apps.accounts.permissions import role_of, user_can
from apps.accounts.roles import can_grant
from apps.accounts.selectors import (
    membership_for,
    memberships_of,
    organization_for_email_domain,
    sso_sign_in_url,
)
from apps.accounts.tenancy import request_memberships, request_organization, set_active_organization
from apps.core.exceptions import BusinessRuleViolation

# How many invitations the organization page lists (newest first).
INVITATIONS_SHOWN = 50

# -- Site navigation -----------------------------------------------------------------------------------------


def _signed_in_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # login_required has run; this narrows the type
        raise PermissionDenied
    return user


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _require(user: User, perm: str, organization: Organization) -> None:
    if not user_can(user, perm, organization):
        raise PermissionDenied(f"Your role in {organization.name} does not allow this.")


def _no_organization(request: HttpRequest) -> HttpResponseRedirect:
    messages.info(request, "Create an organization, or accept an invitation to one, to get started.")
    return redirect("accounts:home")


# -- Account home --------------------------------------------------------------------------------------------


def _render_home(
    request: HttpRequest,
    *,
    profile_form: ProfileForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _signed_in_user(request)
    memberships = sorted(request_memberships(request), key=lambda m: m.organization.name)
    active = request_organization(request)
    context = {
        "profile_form": profile_form or ProfileForm(instance=user),
        "memberships": memberships,
        "active_organization": active,
        "create_form": OrganizationCreateForm(initial={"home_region_code": settings.REGION_CODE}),
    }
    return render(request, "accounts/home.html", context, status=status)


@login_required
def account_home(request: HttpRequest) -> HttpResponse:
    return _render_home(request)


@login_required
@require_POST
def update_profile(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    # A fresh copy: validation writes the submitted values onto the instance, and a refused name must not
    # show up in the header of the page that explains the refusal.
    form = ProfileForm(request.POST, instance=User.objects.get(pk=user.pk))
    if not form.is_valid():
        return _render_home(request, profile_form=form, status=400)
    services.update_profile(user=user, full_name=form.cleaned_data["full_name"])
    messages.success(request, "Your profile is saved.")
    return redirect("accounts:home")


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    form = SwitchOrganizationForm(request.POST)
    membership = None
    if form.is_valid():
        membership = memberships_of(user).filter(organization_id=form.cleaned_data["organization"]).first()
    if membership is None:
        messages.error(request, "You are not a member of that organization.")
        return redirect("accounts:home")
    set_active_organization(request, membership.organization)
    messages.success(request, f"You are now working in {membership.organization.name}.")
    return redirect(_safe_next(request, reverse("core:dashboard")))


@login_required
@require_http_methods(["GET", "POST"])
def create_organization(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    if request.method != "POST":
        form = OrganizationCreateForm(initial={"home_region_code": settings.REGION_CODE})
        return render(request, "accounts/organization_new.html", {"form": form})
    form = OrganizationCreateForm(request.POST)
    if form.is_valid():
        try:
            organization = services.create_organization(
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                home_region_code=form.cleaned_data["home_region_code"],
                owner=user,
            )
        except (BusinessRuleViolation, ValidationError) as exc:
            form.add_service_error(exc)
            status = exc.status_code if isinstance(exc, BusinessRuleViolation) else 400
            return render(request, "accounts/organization_new.html", {"form": form}, status=status)
        set_active_organization(request, organization)
        messages.success(request, f"{organization.name} is ready. Invite your colleagues to join it.")
        return redirect("accounts:organization")
    return render(request, "accounts/organization_new.html", {"form": form}, status=400)


# -- The active organization -----------------------------------------------------------------------------------


@dataclass
class TeamNode:
    team: Team
    depth: int
    children: list[TeamNode] = field(default_factory=list)
    error: str = ""


@dataclass
class MemberRow:
    membership: Membership
    is_self: bool
    role_form: MemberRoleForm | None
    can_remove: bool
    error: str = ""


@dataclass
class InvitationRow:
    invitation: Invitation
    status: str
    can_revoke: bool
    error: str = ""


def _team_tree(organization: Organization) -> tuple[list[TeamNode], list[tuple[Team, int]]]:
    """The organization's teams as a tree (one query), and the same tree flattened as (team, depth)."""
    teams = list(
        Team.objects.for_organization(organization).annotate(member_count=Count("team_memberships")).order_by("name")
    )
    children: dict[uuid.UUID | None, list[Team]] = defaultdict(list)
    known = {team.pk for team in teams}
    for team in teams:
        children[team.parent_id if team.parent_id in known else None].append(team)
    flat: list[tuple[Team, int]] = []
    seen: set[uuid.UUID] = set()

    def grow(parent_id: uuid.UUID | None, depth: int) -> list[TeamNode]:
        nodes = []
        for team in children.get(parent_id, []):
            if team.pk in seen:  # a cycle would be a data bug; never loop on it
                continue
            seen.add(team.pk)
            node = TeamNode(team=team, depth=depth)
            flat.append((team, depth))
            node.children = grow(team.pk, depth + 1)
            nodes.append(node)
        return nodes

    return grow(None, 0), flat


def _walk(nodes: list[TeamNode]) -> list[TeamNode]:
    found: list[TeamNode] = []
    for node in nodes:
        found.append(node)
        found.extend(_walk(node.children))
    return found


def _role_form(membership: Membership, roles: list[tuple[str, str]], data: Any = None) -> MemberRoleForm:
    return MemberRoleForm(
        data,
        prefix=f"member-{membership.pk}",
        roles=roles,
        initial={"role": membership.role},
        label=f"Role of {membership.user.get_full_name()}",
    )


def _render_organization(
    request: HttpRequest,
    organization: Organization,
    *,
    status: int = 200,
    settings_form: OrganizationSettingsForm | None = None,
    team_form: TeamCreateForm | None = None,
    invitation_form: InvitationForm | None = None,
    role_forms: dict[uuid.UUID, MemberRoleForm] | None = None,
    row_errors: dict[uuid.UUID, str] | None = None,
) -> HttpResponse:
    user = _signed_in_user(request)
    _require(user, "organization.view", organization)
    actor_role = role_of(user, organization)
    roles = grantable_roles(actor_role)
    role_forms = role_forms or {}
    row_errors = row_errors or {}
    can = {
        "manage_organization": user_can(user, "organization.manage", organization),
        "view_members": user_can(user, "members.view", organization),
        "manage_members": user_can(user, "members.manage", organization),
        "view_teams": user_can(user, "teams.view", organization),
        "manage_teams": user_can(user, "teams.manage", organization),
        "manage_invitations": user_can(user, "invitations.manage", organization),
        "review_access": user_can(user, "access.review", organization),
    }

    members: list[MemberRow] = []
    if can["view_members"]:
        memberships = (
            Membership.objects.for_organization(organization)
            .select_related("user")
            .prefetch_related(Prefetch("teams", queryset=Team.objects.only("id", "name").order_by("name")))
            .order_by("user__email")
        )
        for membership in memberships:
            is_self = membership.user_id == user.pk
            outranked = actor_role is not None and can_grant(actor_role, membership.role)
            editable = can["manage_members"] and not is_self and outranked
            members.append(
                MemberRow(
                    membership=membership,
                    is_self=is_self,
                    # A submitted form is shown again with its errors even where the row is otherwise read-only.
                    role_form=role_forms.get(membership.pk) or (_role_form(membership, roles) if editable else None),
                    can_remove=is_self or editable,
                    error=row_errors.get(membership.pk, ""),
                )
            )

    tree, flat_teams = _team_tree(organization) if can["view_teams"] else ([], [])
    for node in _walk(tree):
        node.error = row_errors.get(node.team.pk, "")

    invitations: list[InvitationRow] = []
    if can["manage_invitations"]:
        for invitation in (
            Invitation.objects.for_organization(organization)
            .select_related("team", "invited_by")
            .order_by("-created_at")[:INVITATIONS_SHOWN]
        ):
            status_now = invitation.status
            invitations.append(
                InvitationRow(
                    invitation=invitation,
                    status=status_now,
                    can_revoke=status_now == InvitationStatus.PENDING,
                    error=row_errors.get(invitation.pk, ""),
                )
            )

    context = {
        "organization": organization,
        "membership": membership_for(user, organization),
        "can": can,
        "members": members,
        "team_tree": tree,
        "team_count": len(flat_teams),
        "invitations": invitations,
        "settings_form": settings_form or OrganizationSettingsForm(initial={"name": organization.name}),
        "team_form": team_form or TeamCreateForm(teams=flat_teams, roles=roles),
        "invitation_form": invitation_form or InvitationForm(roles=roles, teams=flat_teams),
    }
    return render(request, "accounts/organization.html", context, status=status)


def _back_to_organization(anchor: str) -> HttpResponseRedirect:
    return redirect(f"{reverse('accounts:organization')}#{anchor}")


@login_required
def organization_detail(request: HttpRequest) -> HttpResponse:
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    return _render_organization(request, organization)


@login_required
@require_POST
def update_organization(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "organization.manage", organization)
    form = OrganizationSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.update_organization(organization=organization, actor=user, name=form.cleaned_data["name"])
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_organization(request, organization, settings_form=form, status=exc.status_code)
        messages.success(request, "The organization's settings are saved.")
        return _back_to_organization("settings")
    return _render_organization(request, organization, settings_form=form, status=400)


@login_required
@require_POST
def change_member_role(request: HttpRequest, membership_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "members.manage", organization)
    membership = get_object_or_404(
        Membership.objects.for_organization(organization).select_related("user", "organization"), pk=membership_id
    )
    form = _role_form(membership, grantable_roles(role_of(user, organization)), data=request.POST)
    if form.is_valid():
        try:
            services.change_member_role(membership=membership, role=form.cleaned_data["role"], actor=user)
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_organization(request, organization, role_forms={membership.pk: form}, status=exc.status_code)
        messages.success(request, f"{membership.user.get_full_name()} is now {membership.get_role_display().lower()}.")
        return _back_to_organization("members")
    return _render_organization(request, organization, role_forms={membership.pk: form}, status=400)


@login_required
@require_POST
def remove_member(request: HttpRequest, membership_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    membership = get_object_or_404(
        Membership.objects.for_organization(organization).select_related("user", "organization"), pk=membership_id
    )
    leaving = membership.user_id == user.pk
    if not leaving:
        _require(user, "members.manage", organization)
    try:
        services.remove_member(membership=membership, actor=user)
    except BusinessRuleViolation as exc:
        return _render_organization(
            request, organization, row_errors={membership.pk: exc.message}, status=exc.status_code
        )
    if leaving:
        messages.success(request, f"You left {organization.name}.")
        return redirect("accounts:home")
    messages.success(request, f"{membership.user.get_full_name()} no longer belongs to {organization.name}.")
    return _back_to_organization("members")


@login_required
@require_POST
def create_team(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "teams.manage", organization)
    _, flat = _team_tree(organization)
    form = TeamCreateForm(request.POST, teams=flat, roles=grantable_roles(role_of(user, organization)))
    if form.is_valid():
        try:
            with transaction.atomic():
                team = services.create_team(
                    organization=organization,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                    description=form.cleaned_data["description"],
                    actor=user,
                )
                if form.cleaned_data["role"]:
                    services.update_team(team=team, actor=user, role=form.cleaned_data["role"])
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_organization(request, organization, team_form=form, status=exc.status_code)
        messages.success(request, f"The team {team.name} is created.")
        return _back_to_organization("teams")
    return _render_organization(request, organization, team_form=form, status=400)


@login_required
@require_POST
def delete_team(request: HttpRequest, team_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "teams.manage", organization)
    team = get_object_or_404(Team.objects.for_organization(organization), pk=team_id)
    try:
        services.delete_team(team=team, actor=user)
    except BusinessRuleViolation as exc:
        return _render_organization(request, organization, row_errors={team.pk: exc.message}, status=exc.status_code)
    messages.success(request, f"The team {team.name} is deleted.")
    return _back_to_organization("teams")


@login_required
@require_POST
def create_invitation(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "invitations.manage", organization)
    _, flat = _team_tree(organization)
    form = InvitationForm(request.POST, roles=grantable_roles(role_of(user, organization)), teams=flat)
    if form.is_valid():
        try:
            invitation, _token = services.create_invitation(
                organization=organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                team=form.cleaned_data["team"],
                actor=user,
            )
        except BusinessRuleViolation as exc:
            form.add_service_error(exc)
            return _render_organization(request, organization, invitation_form=form, status=exc.status_code)
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return _back_to_organization("invitations")
    return _render_organization(request, organization, invitation_form=form, status=400)


@login_required
@require_POST
def revoke_invitation(request: HttpRequest, invitation_id: uuid.UUID) -> HttpResponse:
    user = _signed_in_user(request)
    organization = request_organization(request)
    if organization is None:
        return _no_organization(request)
    _require(user, "invitations.manage", organization)
    invitation = get_object_or_404(Invitation.objects.for_organization(organization), pk=invitation_id)
    try:
        services.revoke_invitation(invitation=invitation, actor=user)
    except BusinessRuleViolation as exc:
        return _render_organization(
            request, organization, row_errors={invitation.pk: exc.message}, status=exc.status_code
        )
    messages.success(request, f"The invitation to {invitation.email} is revoked.")
    return _back_to_organization("invitations")


# -- Accepting an invitation ----------------------------------------------------------------------------------


def _invitation_page(
    request: HttpRequest, token: str, invitation: Invitation | None, *, error: str = "", status: int = 200
) -> HttpResponse:
    user = request.user if isinstance(request.user, User) else None
    state = "invalid" if invitation is None else invitation.status
    if invitation is not None and state == InvitationStatus.PENDING and user is not None:
        if membership_for(user, invitation.organization) is not None:
            state = "member"
        elif invitation.email.lower() != user.email.lower():
            state = "wrong_recipient"
    here = request.get_full_path()
    context = {
        "invitation": invitation,
        "token": token,
        "state": state,
        "error": error,
        "signed_in": user is not None,
        "next_url": here,
    }
    if invitation is None and status == 200:
        status = 404
    return render(request, "accounts/invitation_accept.html", context, status=status)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.find_invitation(token)
    if request.method != "POST":
        return _invitation_page(request, token, invitation)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = _signed_in_user(request)
    try:
        membership = services.accept_invitation(token=token, user=user)
    except BusinessRuleViolation as exc:
        return _invitation_page(request, token, invitation, error=exc.message, status=exc.status_code)
    set_active_organization(request, membership.organization)
    messages.success(
        request,
        f"Welcome to {membership.organization.name}. You joined as {membership.get_role_display().lower()}.",
    )
    return redirect("core:dashboard")


# -- Signing in: email first ----------------------------------------------------------------------------------


class PasswordSignInView(AllauthLoginView):
    """allauth's email + password step, with the address from the first step filled in."""

    def get_initial(self) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_initial()
        if self.request.GET.get("login"):
            initial["login"] = self.request.GET["login"]
        return initial


_password_sign_in = PasswordSignInView.as_view()


def _with_next(url: str, request: HttpRequest) -> str:
    target = _safe_next(request, "")
    return f"{url}?{urlencode({'next': target})}" if target else url


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Ask for the email address; send people of an organization with SSO to its IdP, others to a password."""
    wants_password = "password" in request.POST or request.GET.get("login") or request.GET.get("password")
    if request.user.is_authenticated or wants_password:
        return _password_sign_in(request)
    form = SignInEmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["login"].strip().lower()
        organization = organization_for_email_domain(email)
        sso_url = sso_sign_in_url(organization) if organization is not None else None
        if sso_url is not None:
            return redirect(_with_next(sso_url, request))
        params = {"login": email}
        if _safe_next(request, ""):
            params["next"] = _safe_next(request, "")
        return redirect(f"{reverse('account_login')}?{urlencode(params)}")
    expired = request.GET.get("expired", "")
    context = {
        "form": form,
        "next_url": _safe_next(request, ""),
        "expired": expired in ("idle_timeout", "absolute_timeout"),
    }
    return render(request, "account/sign_in_email.html", context, status=400 if form.errors else 200)
