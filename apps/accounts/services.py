"""Every write about organizations, memberships, teams and invitations. Each one is audited."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

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
from apps.accounts.permissions import role_of
from apps.accounts.roles import Role, can_grant
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.regions.selectors import placeable_region_codes
from apps.regions.services import record_organization_placement
from apps.security import services as security
from apps.security.observers import address_of, observe_person_after_commit, observe_quietly
from apps.security.services import record_audit_event


def _observe_role_raise(*, membership: Membership, previous: str, role: str) -> None:
    """Tell the privilege-escalation detector about a role change, once it is committed."""
    user, organization = membership.user, membership.organization
    transaction.on_commit(
        lambda: observe_quietly(
            security.observe_role_change, user=user, organization=organization, old_role=previous, new_role=role
        )
    )


def _observe_sensitive(*, actor: Any, organization: Organization | None, action: str) -> None:
    """Tell the privilege-escalation detector about a sensitive action by a person, once it is committed."""
    if organization is not None:
        observe_person_after_commit(
            security.observe_sensitive_action, user=actor, organization=organization, action=action
        )


# -- Organizations ---------------------------------------------------------------------------------------


def _unique_slug(base: str, taken: Any) -> str:
    root = slugify(base)[:50] or "org"
    slug, n = root, 1
    while taken(slug):
        n += 1
        slug = f"{root}-{n}"
    return slug


def create_organization(*, name: str, owner: User, home_region_code: str, slug: str = "") -> Organization:
    """Create a tenant with its first owner, homed in an active region."""
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("An organization needs a name.", field="name", code="required")
    if slug and Organization.objects.filter(slug=slug).exists():
        raise Conflict("That slug is taken.", field="slug", code="slug_taken")
    slug = slug or _unique_slug(name, lambda s: Organization.objects.filter(slug=s).exists())
    placeable = placeable_region_codes()
    if home_region_code not in placeable:
        choices = ", ".join(placeable) or "none is active yet"
        raise BusinessRuleViolation(
            f"Region {home_region_code!r} does not take new organizations; choose one of: {choices}.",
            field="home_region_code",
            code="region_not_available",
        )
    with transaction.atomic():
        org = Organization(name=name, slug=slug, home_region_code=home_region_code)
        org.full_clean()
        org.save()
        Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
        # The directory entry and its outbox message commit with the organization, so every region learns
        # where it lives exactly when it exists.
        record_organization_placement(organization=org)
        record_audit_event(
            actor=owner,
            action="accounts.organization_created",
            target=org,
            organization=org,
            data={"slug": org.slug, "home_region_code": home_region_code},
        )
    return org


def update_organization(*, organization: Organization, actor: User, name: str | None = None) -> Organization:
    changed: dict[str, Any] = {}
    if name is not None and name.strip() and name.strip() != organization.name:
        organization.name = name.strip()
        changed["name"] = True
    if not changed:
        return organization
    with transaction.atomic():
        organization.save(update_fields=["name", "updated_at"])
        record_audit_event(
            actor=actor, action="accounts.organization_updated", target=organization, data={"fields": sorted(changed)}
        )
    return organization


# -- People ---------------------------------------------------------------------------------------------------


def update_profile(*, user: User, full_name: str) -> User:
    """Change what a person is called. The audit event says that it changed, never the name itself."""
    full_name = full_name.strip()
    if full_name == user.full_name:
        return user
    with transaction.atomic():
        user.full_name = full_name
        user.save(update_fields=["full_name"])
        record_audit_event(actor=user, action="accounts.profile_updated", target=user, data={"fields": ["full_name"]})
    return user


# -- Memberships -------------------------------------------------------------------------------------------


def _acting_role(actor: User, organization: Organization) -> str | None:
    """The highest role the actor may grant in the organization: their own, or any for platform operators."""
    if actor.is_staff and actor.is_active:
        return Role.OWNER
    return role_of(actor, organization)


def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.filter(organization_id=membership.organization_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def change_member_role(*, membership: Membership, role: str, actor: User) -> Membership:
    """Give a member another role. Nobody grants above their own role; the last owner stays an owner."""
    if role not in Role.values:
        raise BusinessRuleViolation(f"Unknown role {role!r}.", field="role", code="invalid_choice")
    actor_role = _acting_role(actor, membership.organization)
    if actor_role is None or not can_grant(actor_role, role) or not can_grant(actor_role, membership.role):
        raise NotPermitted("You cannot grant or change a role above your own.", field="role", code="role_too_high")
    if membership.role == role:
        return membership
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == Role.OWNER and not _other_owners(locked):
            raise BusinessRuleViolation(
                "The organization's last owner cannot be demoted; make someone else an owner first.",
                field="role",
                code="last_owner",
            )
        previous = locked.role
        locked.role = role
        locked.save(update_fields=["role", "updated_at"])
        record_audit_event(
            actor=actor,
            action="accounts.member_role_changed",
            target=locked,
            data={"user_id": str(locked.user_id), "from": previous, "to": role},
        )
        _observe_role_raise(membership=locked, previous=previous, role=role)
    membership.role = role
    return membership


def remove_member(*, membership: Membership, actor: User) -> None:
    actor_role = _acting_role(actor, membership.organization)
    if membership.user_id != actor.pk and (actor_role is None or not can_grant(actor_role, membership.role)):
        raise NotPermitted("You cannot remove a member whose role is above your own.", code="role_too_high")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == Role.OWNER and not _other_owners(locked):
            raise BusinessRuleViolation("The organization's last owner cannot leave or be removed.", code="last_owner")
        record_audit_event(
            actor=actor,
            action="accounts.member_removed",
            target=locked,
            data={"user_id": str(locked.user_id), "role": locked.role},
        )
        locked.delete()


# -- Teams -------------------------------------------------------------------------------------------------


def _validated_parent(organization: Organization, parent: Team | None) -> Team | None:
    if parent is not None and parent.organization_id != organization.pk:
        raise BusinessRuleViolation("The parent team belongs to another organization.", field="parent")
    return parent


def create_team(
    *,
    organization: Organization,
    name: str,
    actor: User,
    parent: Team | None = None,
    description: str = "",
    slug: str = "",
) -> Team:
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("A team needs a name.", field="name", code="required")
    teams = Team.objects.filter(organization=organization)
    if slug and teams.filter(slug=slug).exists():
        raise Conflict("A team with that slug exists already.", field="slug", code="slug_taken")
    slug = slug or _unique_slug(name, lambda s: teams.filter(slug=s).exists())
    with transaction.atomic():
        team = Team.objects.create(
            organization=organization,
            name=name,
            slug=slug,
            description=description,
            parent=_validated_parent(organization, parent),
        )
        record_audit_event(
            actor=actor,
            action="accounts.team_created",
            target=team,
            data={"parent_id": str(parent.pk) if parent else None},
        )
    return team


def update_team(
    *,
    team: Team,
    actor: User,
    name: str | None = None,
    description: str | None = None,
    parent: Any = ...,
    role: str | None = None,
) -> Team:
    """Change a team. A role given to a team applies to its members and to every team nested inside it."""
    fields: list[str] = []
    if role is not None and role != team.role:
        if role and role not in Role.values:
            raise BusinessRuleViolation(f"Unknown role {role!r}.", field="role", code="invalid_choice")
        actor_role = _acting_role(actor, team.organization)
        if (
            actor_role is None
            or not can_grant(actor_role, role or Role.VIEWER)
            or not can_grant(actor_role, team.role or Role.VIEWER)
        ):
            raise NotPermitted("You cannot give a team a role above your own.", field="role", code="role_too_high")
        team.role = role
        fields.append("role")
    if name is not None and name.strip():
        team.name = name.strip()
        fields.append("name")
    if description is not None:
        team.description = description
        fields.append("description")
    if parent is not ...:
        team.parent = _validated_parent(team.organization, parent)
        fields.append("parent")
        if parent is not None and any(t.pk == team.pk for t in [parent, *parent.ancestors()]):
            raise BusinessRuleViolation("That parent would make the teams a cycle.", field="parent", code="cycle")
    if not fields:
        return team
    with transaction.atomic():
        team.save(update_fields=[*fields, "updated_at"])
        data: dict[str, Any] = {"fields": sorted(fields)}
        if "role" in fields:
            data["role"] = team.role
        record_audit_event(actor=actor, action="accounts.team_updated", target=team, data=data)
    return team


def delete_team(*, team: Team, actor: User) -> None:
    if team.children.exists():
        raise Conflict("Move or delete the team's sub-teams first.", code="team_has_children")
    with transaction.atomic():
        record_audit_event(actor=actor, action="accounts.team_deleted", target=team, data={"slug": team.slug})
        team.delete()


def add_team_member(*, team: Team, membership: Membership, actor: User) -> TeamMembership:
    if membership.organization_id != team.organization_id:
        raise BusinessRuleViolation("That person is not a member of this organization.", field="membership")
    with transaction.atomic():
        link, created = TeamMembership.objects.get_or_create(team=team, membership=membership)
        if created:
            record_audit_event(
                actor=actor,
                action="accounts.team_member_added",
                target=team,
                data={"user_id": str(membership.user_id)},
            )
    return link


def remove_team_member(*, team: Team, membership: Membership, actor: User) -> None:
    with transaction.atomic():
        deleted, _ = TeamMembership.objects.filter(team=team, membership=membership).delete()
        if deleted:
            record_audit_event(
                actor=actor,
                action="accounts.team_member_removed",
                target=team,
                data={"user_id": str(membership.user_id)},
            )


# -- Invitations ---------------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invitation(
    *, organization: Organization, email: str, role: str, actor: User, team: Team | None = None
) -> tuple[Invitation, str]:
    """Invite someone by email. Returns the invitation and the raw token (only ever sent, never stored)."""
    from apps.accounts.tasks import send_invitation_email_task

    email = email.strip().lower()
    if role not in Role.values:
        raise BusinessRuleViolation(f"Unknown role {role!r}.", field="role", code="invalid_choice")
    actor_role = _acting_role(actor, organization)
    if actor_role is None or not can_grant(actor_role, role):
        raise NotPermitted("You cannot invite someone with a role above your own.", field="role", code="role_too_high")
    if team is not None and team.organization_id != organization.pk:
        raise BusinessRuleViolation("The team belongs to another organization.", field="team")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict("That person is already a member.", field="email", code="already_member")
    pending = Invitation.objects.filter(
        organization=organization,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise Conflict("That person has a pending invitation already.", field="email", code="already_invited")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            team=team,
            token_hash=hash_token(token),
            invited_by=actor,
            expires_at=timezone.now() + settings.INVITATION_TTL,
        )
        record_audit_event(
            actor=actor,
            action="accounts.invitation_created",
            target=invitation,
            data={"role": role, "team_id": str(team.pk) if team else None},
        )
        transaction.on_commit(lambda: send_invitation_email_task.delay(str(invitation.pk), token))
    return invitation, token


def revoke_invitation(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.accepted_at:
        raise Conflict("The invitation was accepted already.", code="already_accepted")
    if invitation.revoked_at:
        return invitation
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])
        record_audit_event(actor=actor, action="accounts.invitation_revoked", target=invitation)
    return invitation


def find_invitation(token: str) -> Invitation | None:
    if not token:
        return None
    return Invitation.objects.select_related("organization", "team").filter(token_hash=hash_token(token)).first()


def accept_invitation(*, token: str, user: User) -> Membership:
    """Join the organization the token invites to. The signed-in user's email must be the invited one."""
    with transaction.atomic():
        invitation = find_invitation(token)
        if invitation is None:
            raise BusinessRuleViolation("This invitation link is not valid.", field="token", code="invalid_token")
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        status = invitation.status
        if status != "pending":
            raise Conflict(f"This invitation is {status}.", field="token", code=f"invitation_{status}")
        if invitation.email.lower() != user.email.lower():
            raise NotPermitted(
                "This invitation was sent to another email address; sign in with that address to accept it.",
                field="token",
                code="wrong_recipient",
            )
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    user=user, organization=invitation.organization, role=invitation.role
                )
        except IntegrityError:
            raise Conflict("You are already a member of this organization.", code="already_member") from None
        if invitation.team is not None:
            TeamMembership.objects.create(team=invitation.team, membership=membership)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        record_audit_event(
            actor=user,
            action="accounts.invitation_accepted",
            target=invitation,
            data={"membership_id": str(membership.pk), "role": membership.role},
        )
    return membership


# -- Object grants -------------------------------------------------------------------------------------------


def grant_object_permission(*, user: User, perm: str, obj: Any, actor: User) -> None:
    """Let one member do `perm` (a named permission) on one object, beyond what their role allows."""
    from guardian.shortcuts import assign_perm

    from apps.accounts.permissions import object_permission_codename

    organization = Organization.objects.get(pk=obj.organization_id)
    if not Membership.objects.filter(user=user, organization=organization).exists():
        raise BusinessRuleViolation("Only members of the object's organization can be granted access.", field="user")
    actor_role = _acting_role(actor, organization)
    if actor_role is None or not can_grant(actor_role, Role.ADMIN):
        raise NotPermitted("Only owners and admins grant access to single objects.", code="role_too_high")
    codename = object_permission_codename(perm, obj)
    with transaction.atomic():
        assign_perm(f"{obj._meta.app_label}.{codename}", user, obj)
        record_audit_event(
            actor=actor,
            action="accounts.object_permission_granted",
            target=obj,
            data={"user_id": str(user.pk), "perm": perm},
        )
        _observe_sensitive(actor=actor, organization=organization, action="accounts.object_permission_granted")


def grant_object_role(*, user: User, role: str, obj: Any, actor: User) -> list[str]:
    """Give one member a role on one object only (e.g. operator on one connector): every permission of that
    role in the object's area, as django-guardian object grants. Returns the permissions granted."""
    from apps.accounts.roles import role_permissions
    from apps.accounts.selectors import permission_area_of

    if role not in Role.values:
        raise BusinessRuleViolation(f"Unknown role {role!r}.", field="role", code="invalid_choice")
    area = permission_area_of(obj)
    if not area:
        raise BusinessRuleViolation("Roles cannot be granted on this kind of object.", code="no_permission_area")
    perms = sorted(p for p in role_permissions(role) if p.startswith(f"{area}."))
    with transaction.atomic():
        for perm in perms:
            grant_object_permission(user=user, perm=perm, obj=obj, actor=actor)
    return perms


def revoke_object_permission(*, user: User, perm: str, obj: Any, actor: User) -> None:
    from guardian.shortcuts import remove_perm

    from apps.accounts.permissions import object_permission_codename

    with transaction.atomic():
        remove_perm(f"{obj._meta.app_label}.{object_permission_codename(perm, obj)}", user, obj)
        record_audit_event(
            actor=actor,
            action="accounts.object_permission_revoked",
            target=obj,
            data={"user_id": str(user.pk), "perm": perm},
        )


# -- Sessions ---------------------------------------------------------------------------------------------------
#
# The security team's automated responses (apps.security) call these: end_sessions, revoke_tokens,
# require_reauthentication, lock_account / unlock_account, deactivate_user / reactivate_user.


def _client_ip(request: Any) -> str | None:
    from apps.accounts.lockouts import client_ip

    return client_ip(request) if request is not None else None


def start_session(
    *, request: Any, user: User, method: str, organization: Organization | None = None
) -> UserSession | None:
    """Track a session that has just signed in (device, IP) and audit the sign-in."""
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session is None or not session_key:
        return None
    now = timezone.now()
    with transaction.atomic():
        tracked, _ = UserSession.objects.update_or_create(
            session_key=session_key,
            defaults={
                "user": user,
                "method": method,
                "organization": organization,
                "ip_address": _client_ip(request),
                "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
                "last_seen_at": now,
                "ended_at": None,
                "end_reason": "",
            },
        )
        record_audit_event(
            actor=user,
            action="accounts.signed_in",
            target=user,
            organization=organization,
            data={"method": method, "session_id": str(tracked.pk)},
        )
    from apps.accounts.session_control import mark_session_started

    mark_session_started(session, tracked, now)
    ip = address_of(request)
    if ip:
        observe_quietly(
            security.observe_login, username=user.email, ip=ip, success=True, user=user, organization=organization
        )
    return tracked


def touch_session(*, session_key: str) -> None:
    """Record that a session was just used (the session middleware calls this at most once a minute)."""
    UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(last_seen_at=timezone.now())


def _delete_stored_session(session_key: str) -> None:
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    store(session_key=session_key).delete()


def end_session(*, user_session: UserSession, actor: Any, reason: str) -> UserSession:
    """Sign one session out now: its cookie stops working at the next request."""
    with transaction.atomic():
        locked = UserSession.objects.select_for_update().get(pk=user_session.pk)
        if locked.ended_at is not None:
            return locked
        locked.ended_at = timezone.now()
        locked.end_reason = reason[:40]
        locked.save(update_fields=["ended_at", "end_reason", "updated_at"])
        record_audit_event(
            actor=actor,
            action="accounts.session_ended",
            target=locked.user,
            organization=locked.organization,
            data={"session_id": str(locked.pk), "reason": locked.end_reason},
        )
        # At once, not on commit: a session that must end should rather end early than survive a rollback.
        _delete_stored_session(locked.session_key)
    return locked


def end_sessions(*, user: User, actor: Any, reason: str, keep_session_key: str | None = None) -> int:
    """Sign a person out everywhere (but the session `keep_session_key`, when given). Returns how many ended."""
    sessions = UserSession.objects.filter(user=user, ended_at__isnull=True)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    ended = 0
    for tracked in sessions:
        end_session(user_session=tracked, actor=actor, reason=reason)
        ended += 1
    return ended


def end_member_sessions(*, membership: Membership, actor: User) -> int:
    """An organization admin signs a member out of every session."""
    actor_role = _acting_role(actor, membership.organization)
    if membership.user_id != actor.pk and (actor_role is None or not can_grant(actor_role, membership.role)):
        raise NotPermitted(
            "You cannot end the sessions of a member whose role is above your own.", code="role_too_high"
        )
    return end_sessions(user=membership.user, actor=actor, reason="ended_by_admin")


def require_reauthentication(*, user: User, actor: Any, reason: str) -> int:
    """Make a person sign in again everywhere (their API tokens keep working)."""
    return end_sessions(user=user, actor=actor, reason=f"reauth:{reason}"[:40])


# -- OAuth2 tokens ---------------------------------------------------------------------------------------------


def revoke_tokens(*, user: User, actor: Any, reason: str, organization: Organization | None = None) -> int:
    """Revoke every OAuth2 access and refresh token the person holds (only one organization's apps, if given)."""
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    access_tokens = get_access_token_model().objects.filter(user=user)
    refresh_tokens = get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
    grants = get_grant_model().objects.filter(user=user)
    if organization is not None:
        scope = {"application__registration__organization": organization}
        access_tokens, refresh_tokens, grants = (
            access_tokens.filter(**scope),
            refresh_tokens.filter(**scope),
            grants.filter(**scope),
        )
    with transaction.atomic():
        revoked = 0
        for refresh in refresh_tokens:
            refresh.revoke()
            revoked += 1
        for access in access_tokens:
            access.revoke()
            revoked += 1
        grants.delete()
        if revoked:
            record_audit_event(
                actor=actor,
                action="accounts.tokens_revoked",
                target=user,
                organization=organization,
                data={"count": revoked, "reason": reason[:60]},
            )
    return revoked


def revoke_oauth_token(*, token: Any, actor: Any, reason: str) -> int:
    """Revoke one OAuth2 access token and the refresh token that could renew it. Returns how many were revoked.

    A client-credentials token has no refresh token; its app can ask for a new one with its secret.
    """
    from oauth2_provider.models import get_refresh_token_model

    registration = OrganizationOAuthApp.objects.filter(application_id=token.application_id).first()
    with transaction.atomic():
        refresh = get_refresh_token_model().objects.filter(access_token=token, revoked__isnull=True).first()
        if refresh is not None:
            refresh.revoke()  # deletes the access token too
        else:
            token.revoke()
        record_audit_event(
            actor=actor,
            action="accounts.oauth_token_revoked",
            target=registration,
            organization=registration.organization if registration else None,
            data={
                "application_id": str(token.application_id),
                "user_id": str(token.user_id) if token.user_id else None,
                "reason": reason[:60],
            },
        )
    return 2 if refresh is not None else 1


def record_token_grant(*, token: Any) -> None:
    """Audit an OAuth2 access token handed out (django-oauth-toolkit's `app_authorized` signal)."""
    registration = OrganizationOAuthApp.objects.filter(application_id=token.application_id).first()
    record_audit_event(
        actor=token.user,
        action="accounts.oauth_token_granted",
        target=registration,
        organization=registration.organization if registration else None,
        data={
            "application_id": str(token.application_id),
            "grant": "client_credentials" if token.user_id is None else "user",
            "scopes": sorted(token.scope.split()),
        },
    )


# -- Deactivation and lockout ----------------------------------------------------------------------------------


def deactivate_user(*, user: User, actor: Any, reason: str) -> User:
    """Switch a person off at once: no sign-in, every session ended, every token revoked."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            record_audit_event(actor=actor, action="accounts.user_deactivated", target=locked, data={"reason": reason})
        end_sessions(user=locked, actor=actor, reason="user_deactivated")
        revoke_tokens(user=locked, actor=actor, reason="user_deactivated")
    user.is_active = False
    return user


def reactivate_user(*, user: User, actor: Any, reason: str) -> User:
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            locked.is_active = True
            locked.save(update_fields=["is_active"])
            record_audit_event(actor=actor, action="accounts.user_reactivated", target=locked, data={"reason": reason})
    user.is_active = True
    return user


def lock_account(*, user: User, actor: Any, reason: str) -> None:
    """Lock a person out of password sign-in for the brute-force cool-off, and end their sessions."""
    from apps.accounts.lockouts import lock_username

    with transaction.atomic():
        lock_username(user.email)
        record_audit_event(
            actor=actor,
            action="accounts.account_locked",
            target=user,
            data={"reason": reason, "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        )
        end_sessions(user=user, actor=actor, reason="account_locked")


def unlock_account(*, user: User, actor: Any, reason: str) -> None:
    from axes.utils import reset

    with transaction.atomic():
        reset(username=user.email)
        record_audit_event(actor=actor, action="accounts.account_unlocked", target=user, data={"reason": reason})


def suspend_membership(*, membership: Membership, actor: Any, reason: str) -> Membership:
    """Take a member's access away without forgetting them (SCIM deprovisioning, `active: false`).

    Their sessions end and the organization's tokens for them are revoked; when this was their only active
    organization the person is deactivated too, so nothing of theirs keeps working anywhere.
    """
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user", "organization").get(pk=membership.pk)
        if locked.is_active:
            if locked.role == Role.OWNER and not _other_owners(locked):
                raise BusinessRuleViolation("The organization's last owner cannot be suspended.", code="last_owner")
            locked.is_active = False
            locked.save(update_fields=["is_active", "updated_at"])
            record_audit_event(
                actor=actor,
                action="accounts.member_suspended",
                target=locked,
                data={"user_id": str(locked.user_id), "reason": reason},
            )
        others = Membership.objects.filter(user_id=locked.user_id, is_active=True).exclude(pk=locked.pk)
        if not others.exists():
            deactivate_user(user=locked.user, actor=actor, reason=f"last membership suspended: {reason}")
        else:
            end_sessions(user=locked.user, actor=actor, reason="membership_suspended")
            revoke_tokens(
                user=locked.user, actor=actor, reason="membership_suspended", organization=locked.organization
            )
    membership.is_active = False
    return membership


def reactivate_membership(*, membership: Membership, actor: Any) -> Membership:
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if not locked.is_active:
            locked.is_active = True
            locked.save(update_fields=["is_active", "updated_at"])
            record_audit_event(
                actor=actor,
                action="accounts.member_reactivated",
                target=locked,
                data={"user_id": str(locked.user_id)},
            )
        if not locked.user.is_active:
            reactivate_user(user=locked.user, actor=actor, reason="membership reactivated")
    membership.is_active = True
    return membership


# -- Sign-in audit (signal handlers call these) ---------------------------------------------------------------------


def record_sign_out(*, request: Any, user: User | None) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or not session_key:
        return
    tracked = UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).first()
    if tracked is not None:
        end_session(user_session=tracked, actor=user, reason="signed_out")


def record_sign_in_failure(*, request: Any, email: str) -> None:
    """Audit a failed sign-in. The event names the account by id when it exists, never by address."""
    user = User.objects.filter(email__iexact=email.strip()).only("id").first() if email else None
    record_audit_event(
        actor=None,
        action="accounts.sign_in_failed",
        target=user,
        data={"known_account": user is not None, "path": getattr(request, "path", "")[:100]},
    )
    observe_failed_sign_in(request=request, username=email, user=user)


def observe_failed_sign_in(*, request: Any, username: str, user: User | None = None) -> None:
    """Hand a refused sign-in (password, LDAP, SAML, OIDC) to the brute-force and stuffing detectors."""
    ip = address_of(request)
    if ip:
        observe_quietly(security.observe_login, username=username, ip=ip, success=False, user=user)


def record_lockout(*, request: Any, email: str) -> None:
    user = User.objects.filter(email__iexact=email.strip()).only("id").first() if email else None
    record_audit_event(
        actor=None,
        action="accounts.sign_in_locked_out",
        target=user,
        data={
            "known_account": user is not None,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
    )


def record_mfa_change(*, user: User, change: str, kind: str) -> None:
    """Audit a second factor added, removed or reset (allauth's MFA signals)."""
    record_audit_event(actor=user, action=f"accounts.mfa_{change}", target=user, data={"type": kind})


# -- Single sign-on: just-in-time provisioning ---------------------------------------------------------------


def _mapped_roles_and_teams(groups: list[str], group_map: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    roles: list[str] = []
    teams: list[str] = []
    wanted = set(groups)
    for rule in group_map or []:
        if not isinstance(rule, dict) or rule.get("group") not in wanted:
            continue
        if rule.get("role") in Role.values:
            roles.append(rule["role"])
        if rule.get("team"):
            teams.append(str(rule["team"]))
    return roles, teams


def provision_sso_member(
    *,
    organization: Organization,
    email: str,
    full_name: str = "",
    groups: list[str] | None = None,
    group_map: list[dict[str, Any]] | None = None,
    default_role: str = Role.VIEWER,
    method: str,
) -> tuple[User, Membership]:
    """Create or update the person an identity provider vouched for, as a member of its organization.

    The IdP may only assert addresses of the organization's verified email domains. Groups map onto teams and
    a role; the role follows the IdP at every sign-in (never demoting an owner). A suspended member stays out.
    """
    from apps.accounts.permissions import highest_role
    from apps.accounts.selectors import email_domain_of

    email = email.strip().lower()
    if not email or "@" not in email:
        raise BusinessRuleViolation("The identity provider sent no email address.", code="sso_no_email")
    verified = organization.email_domains.filter(domain=email_domain_of(email), verified_at__isnull=False)
    if not verified.exists():
        raise NotPermitted(
            "The identity provider asserted an address outside the organization's verified email domains.",
            code="sso_foreign_domain",
        )
    roles, team_slugs = _mapped_roles_and_teams(groups or [], group_map or [])
    role = highest_role(roles) or default_role
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None, full_name=full_name[:150])
            record_audit_event(
                actor=None,
                action="accounts.user_provisioned",
                target=user,
                organization=organization,
                data={"method": method},
            )
        elif not user.is_active:
            raise NotPermitted("This account is deactivated.", code="user_inactive")
        elif full_name and not user.full_name:
            user.full_name = full_name[:150]
            user.save(update_fields=["full_name"])
        membership = Membership.objects.filter(user=user, organization=organization).first()
        if membership is None:
            membership = Membership.objects.create(user=user, organization=organization, role=role)
            record_audit_event(
                actor=None,
                action="accounts.member_provisioned",
                target=membership,
                data={"user_id": str(user.pk), "role": role, "method": method},
            )
        elif not membership.is_active:
            raise NotPermitted("Your membership of this organization is suspended.", code="membership_suspended")
        elif roles and membership.role != role and membership.role != Role.OWNER:
            previous = membership.role
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
            record_audit_event(
                actor=None,
                action="accounts.member_role_changed",
                target=membership,
                data={"user_id": str(user.pk), "from": previous, "to": role, "source": method},
            )
            _observe_role_raise(membership=membership, previous=previous, role=role)
        for team in Team.objects.filter(organization=organization, slug__in=team_slugs):
            _link, created = TeamMembership.objects.get_or_create(team=team, membership=membership)
            if created:
                record_audit_event(
                    actor=None,
                    action="accounts.team_member_added",
                    target=team,
                    data={"user_id": str(user.pk), "source": method},
                )
    return user, membership


# -- Sign-in policy and identity providers --------------------------------------------------------------------


def _policy_of(organization: Organization) -> SecurityPolicy:
    policy, _ = SecurityPolicy.objects.get_or_create(organization=organization)
    return policy


# Bounds an organization may choose for its session timeouts, in minutes.
IDLE_TIMEOUT_RANGE = (5, 30 * 24 * 60)
ABSOLUTE_TIMEOUT_RANGE = (15, 90 * 24 * 60)


def update_security_policy(
    *,
    organization: Organization,
    actor: Any,
    require_mfa: bool,
    require_sso: bool,
    break_glass_user: User | None,
    idle_timeout_minutes: int | None,
    absolute_timeout_minutes: int | None,
) -> SecurityPolicy:
    """Change how members sign in and how long their sessions last."""
    from apps.accounts.selectors import sso_sign_in_url

    for field, value, (low, high) in (
        ("idle_timeout_minutes", idle_timeout_minutes, IDLE_TIMEOUT_RANGE),
        ("absolute_timeout_minutes", absolute_timeout_minutes, ABSOLUTE_TIMEOUT_RANGE),
    ):
        if value is not None and not low <= value <= high:
            raise BusinessRuleViolation(f"Choose between {low} and {high} minutes.", field=field, code="out_of_range")
    if require_sso and sso_sign_in_url(organization) is None:
        raise BusinessRuleViolation(
            "Set up a SAML or OIDC identity provider before requiring single sign-on.", field="require_sso"
        )
    if (
        break_glass_user is not None
        and not Membership.objects.filter(
            organization=organization, user=break_glass_user, role=Role.OWNER, is_active=True
        ).exists()
    ):
        raise BusinessRuleViolation("The break-glass account must be an owner.", field="break_glass_user")
    with transaction.atomic():
        policy = _policy_of(organization)
        before = {
            "require_mfa": policy.require_mfa,
            "require_sso": policy.require_sso,
            "break_glass_user_id": str(policy.break_glass_user_id or ""),
            "idle_timeout_minutes": policy.idle_timeout_minutes,
            "absolute_timeout_minutes": policy.absolute_timeout_minutes,
        }
        policy.require_mfa = require_mfa
        policy.require_sso = require_sso
        policy.break_glass_user = break_glass_user
        policy.idle_timeout_minutes = idle_timeout_minutes
        policy.absolute_timeout_minutes = absolute_timeout_minutes
        policy.save()
        after = {
            "require_mfa": require_mfa,
            "require_sso": require_sso,
            "break_glass_user_id": str(break_glass_user.pk if break_glass_user else ""),
            "idle_timeout_minutes": idle_timeout_minutes,
            "absolute_timeout_minutes": absolute_timeout_minutes,
        }
        changed = {k: after[k] for k in after if after[k] != before[k]}
        if changed:
            record_audit_event(
                actor=actor,
                action="accounts.security_policy_changed",
                target=policy,
                organization=organization,
                data=changed,
            )
    return policy


def claim_email_domain(*, organization: Organization, domain: str, actor: Any) -> EmailDomain:
    """Claim an email domain for sign-in routing; an operator verifies the claim before it routes anything."""
    domain = domain.strip().lower().lstrip("@")
    if not domain or "." not in domain or " " in domain or len(domain) > 253:
        raise BusinessRuleViolation("Enter a domain such as example.com.", field="domain", code="invalid")
    if EmailDomain.objects.filter(domain=domain).exists():
        raise Conflict("That domain is claimed already.", field="domain", code="domain_taken")
    with transaction.atomic():
        claim = EmailDomain.objects.create(organization=organization, domain=domain)
        record_audit_event(actor=actor, action="accounts.email_domain_claimed", target=claim, data={"domain": domain})
    return claim


def verify_email_domain(*, claim: EmailDomain, actor: Any) -> EmailDomain:
    if claim.verified_at is not None:
        return claim
    with transaction.atomic():
        claim.verified_at = timezone.now()
        claim.save(update_fields=["verified_at", "updated_at"])
        record_audit_event(
            actor=actor, action="accounts.email_domain_verified", target=claim, data={"domain": claim.domain}
        )
    return claim


def remove_email_domain(*, claim: EmailDomain, actor: Any) -> None:
    with transaction.atomic():
        record_audit_event(
            actor=actor, action="accounts.email_domain_removed", target=claim, data={"domain": claim.domain}
        )
        claim.delete()


def configure_saml_idp(
    *,
    organization: Organization,
    actor: Any,
    metadata_xml: str = "",
    metadata_url: str = "",
    attribute_map: dict[str, str] | None = None,
    group_map: list[dict[str, Any]] | None = None,
    default_role: str = Role.VIEWER,
    is_enabled: bool = True,
) -> SamlIdentityProvider:
    """Set the organization's SAML IdP from pasted metadata or a metadata URL (fetched now)."""
    from apps.accounts.sso.outbound import fetch_idp_metadata
    from apps.accounts.sso.saml import read_idp_metadata

    if default_role not in Role.values or default_role == Role.OWNER:
        raise BusinessRuleViolation("Choose a default role below owner.", field="default_role")
    metadata_xml = metadata_xml.strip()
    fetched_at = None
    if not metadata_xml and metadata_url:
        metadata_xml = fetch_idp_metadata(metadata_url).strip()
        fetched_at = timezone.now()
    if not metadata_xml:
        raise BusinessRuleViolation("Paste the IdP's metadata or give its URL.", field="metadata_xml", code="required")
    entity_id = read_idp_metadata(metadata_xml)
    with transaction.atomic():
        idp, created = SamlIdentityProvider.objects.get_or_create(organization=organization)
        idp.metadata_xml = metadata_xml
        idp.metadata_url = metadata_url
        idp.metadata_fetched_at = fetched_at or idp.metadata_fetched_at
        idp.entity_id = entity_id
        if attribute_map is not None:
            idp.attribute_map = attribute_map
        if group_map is not None:
            idp.group_map = group_map
        idp.default_role = default_role
        idp.is_enabled = is_enabled
        idp.save()
        record_audit_event(
            actor=actor,
            action="accounts.saml_idp_configured",
            target=idp,
            organization=organization,
            data={"created": created, "from_url": bool(fetched_at), "enabled": is_enabled},
        )
        _observe_sensitive(actor=actor, organization=organization, action="accounts.saml_idp_configured")
    return idp


def configure_oidc_idp(
    *,
    organization: Organization,
    actor: Any,
    issuer: str,
    client_id: str,
    client_secret: str | None = None,
    groups_claim: str = "groups",
    group_map: list[dict[str, Any]] | None = None,
    default_role: str = Role.VIEWER,
    is_enabled: bool = True,
) -> OidcIdentityProvider:
    """Set the organization's OpenID Connect IdP (a blank secret keeps the stored one)."""
    if not issuer.startswith(("https://", "http://")):
        raise BusinessRuleViolation("The issuer must be an http(s) URL.", field="issuer")
    if not client_id.strip():
        raise BusinessRuleViolation("Enter the client id the IdP gave you.", field="client_id", code="required")
    if default_role not in Role.values or default_role == Role.OWNER:
        raise BusinessRuleViolation("Choose a default role below owner.", field="default_role")
    with transaction.atomic():
        idp = OidcIdentityProvider.objects.filter(organization=organization).first() or OidcIdentityProvider(
            organization=organization
        )
        created = idp._state.adding
        idp.issuer = issuer.rstrip("/")
        idp.client_id = client_id.strip()
        if client_secret:
            idp.client_secret = client_secret
        idp.groups_claim = groups_claim
        if group_map is not None:
            idp.group_map = group_map
        idp.default_role = default_role
        idp.is_enabled = is_enabled
        idp.save()
        record_audit_event(
            actor=actor,
            action="accounts.oidc_idp_configured",
            target=idp,
            organization=organization,
            data={"created": created, "enabled": is_enabled},
        )
        _observe_sensitive(actor=actor, organization=organization, action="accounts.oidc_idp_configured")
    return idp


# -- OAuth apps and SCIM tokens ---------------------------------------------------------------------------------


class OAuthAppKind:
    WEB = "web"  # authorization code + PKCE, on behalf of a person
    MACHINE = "machine"  # client credentials, for the organization itself
    # Authorization code + PKCE for a program on the person's own machine (the `nofx` CLI, a desktop app):
    # a public client, since such a program cannot keep a secret; it redirects to a loopback address.
    NATIVE = "native"


# Where a native app's redirect lands when none is given: a loopback listener of its own (RFC 8252; the
# port may differ on every sign-in).
NATIVE_DEFAULT_REDIRECT = "http://127.0.0.1/callback"


def register_oauth_app(
    *,
    organization: Organization,
    actor: User,
    name: str,
    kind: str,
    scopes: list[str],
    redirect_uris: list[str] | None = None,
) -> tuple[OrganizationOAuthApp, str]:
    """Register an OAuth2 client for the organization. Returns it and its secret (shown once, stored hashed;
    empty for a native app, which is a public client)."""
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import get_application_model

    from apps.accounts.scopes import unknown_scopes

    Application = get_application_model()
    name = name.strip()
    if not name:
        raise BusinessRuleViolation("Name the app.", field="name", code="required")
    if kind not in (OAuthAppKind.WEB, OAuthAppKind.MACHINE, OAuthAppKind.NATIVE):
        raise BusinessRuleViolation("Choose a web app, a native app or a machine client.", field="kind")
    if not scopes:
        raise BusinessRuleViolation("Allow the app at least one scope.", field="scopes", code="required")
    if unknown := unknown_scopes(scopes):
        raise BusinessRuleViolation(f"Unknown scopes: {', '.join(unknown)}.", field="scopes")
    redirect_uris = [uri.strip() for uri in (redirect_uris or []) if uri.strip()]
    if kind == OAuthAppKind.WEB and not redirect_uris:
        raise BusinessRuleViolation(
            "A web app needs at least one redirect URI.", field="redirect_uris", code="required"
        )
    if kind == OAuthAppKind.NATIVE:
        redirect_uris = redirect_uris or [NATIVE_DEFAULT_REDIRECT]
        if any(urlsplit(uri).hostname not in ("127.0.0.1", "::1", "localhost") for uri in redirect_uris):
            raise BusinessRuleViolation(
                "A native app redirects to a loopback address, such as http://127.0.0.1/callback.",
                field="redirect_uris",
                code="invalid",
            )
    public = kind == OAuthAppKind.NATIVE
    secret = "" if public else generate_client_secret()
    with transaction.atomic():
        application = Application(
            name=name[:255],
            user=actor,
            client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=(
                Application.GRANT_CLIENT_CREDENTIALS
                if kind == OAuthAppKind.MACHINE
                else Application.GRANT_AUTHORIZATION_CODE
            ),
            redirect_uris=" ".join(redirect_uris),
            client_secret=secret,
            skip_authorization=False,
            # ID tokens (OpenID Connect) are signed with the provider's RSA key when it has one.
            algorithm=(
                Application.RS256_ALGORITHM
                if kind == OAuthAppKind.WEB and settings.OAUTH2_PROVIDER.get("OIDC_ENABLED")
                else Application.NO_ALGORITHM
            ),
        )
        try:
            application.full_clean(exclude=["client_id", "client_secret", "user"])
        except ValidationError as exc:
            raise BusinessRuleViolation("; ".join(exc.messages), field="redirect_uris") from None
        application.save()
        registration = OrganizationOAuthApp.objects.create(
            organization=organization, application=application, allowed_scopes=sorted(set(scopes)), created_by=actor
        )
        record_audit_event(
            actor=actor,
            action="accounts.oauth_app_registered",
            target=registration,
            data={"kind": kind, "scopes": sorted(set(scopes)), "client_id": application.client_id},
        )
        _observe_sensitive(actor=actor, organization=registration.organization, action="accounts.oauth_app_registered")
    return registration, secret


def delete_oauth_app(*, registration: OrganizationOAuthApp, actor: User) -> None:
    """Remove an OAuth app; every token it was given stops working."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    with transaction.atomic():
        application = registration.application
        for refresh in get_refresh_token_model().objects.filter(application=application, revoked__isnull=True):
            refresh.revoke()
        get_access_token_model().objects.filter(application=application).delete()
        record_audit_event(
            actor=actor,
            action="accounts.oauth_app_deleted",
            target=registration,
            data={"client_id": application.client_id},
        )
        application.delete()


SCIM_TOKEN_PREFIX = "nofx_scim_"  # noqa: S105 - a public prefix that makes leaked tokens recognisable


def create_scim_token(*, organization: Organization, actor: User, name: str) -> tuple[ScimToken, str]:
    """A new SCIM bearer token for the organization. Returns it and the raw token (shown once)."""
    name = name.strip() or "SCIM"
    raw = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ScimToken.objects.create(
            organization=organization, name=name[:100], prefix=raw[:14], token_hash=hash_token(raw), created_by=actor
        )
        record_audit_event(
            actor=actor, action="accounts.scim_token_created", target=token, data={"prefix": token.prefix}
        )
    return token, raw


def revoke_scim_token(*, token: ScimToken, actor: User) -> ScimToken:
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        record_audit_event(
            actor=actor, action="accounts.scim_token_revoked", target=token, data={"prefix": token.prefix}
        )
    return token


def provision_directory_member(
    *, organization: Organization, user: User, roles: list[str], default_role: str
) -> Membership:
    """Make a person the LDAP directory vouched for a member of the deployment's LDAP organization."""
    from apps.accounts.permissions import highest_role

    role = highest_role(roles) or (default_role if default_role in Role.values else Role.VIEWER)
    with transaction.atomic():
        membership = Membership.objects.filter(user=user, organization=organization).first()
        if membership is None:
            membership = Membership.objects.create(user=user, organization=organization, role=role)
            record_audit_event(
                actor=None,
                action="accounts.member_provisioned",
                target=membership,
                data={"user_id": str(user.pk), "role": role, "method": "ldap"},
            )
        elif membership.is_active and roles and membership.role not in (role, Role.OWNER):
            previous = membership.role
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
            record_audit_event(
                actor=None,
                action="accounts.member_role_changed",
                target=membership,
                data={"user_id": str(user.pk), "from": previous, "to": role, "source": "ldap"},
            )
            _observe_role_raise(membership=membership, previous=previous, role=role)
    return membership


# -- SCIM provisioning --------------------------------------------------------------------------------------------


def scim_provision_member(
    *,
    organization: Organization,
    actor: Any,
    email: str,
    full_name: str = "",
    external_id: str = "",
    active: bool = True,
) -> Membership:
    """An identity provider adds a person to the organization (SCIM `POST /Users`)."""
    from django.core.validators import validate_email

    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise BusinessRuleViolation(
            "userName must be an email address.", field="userName", code="invalidValue"
        ) from None
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict("That person is already a member.", field="userName", code="uniqueness")
    if external_id and Membership.objects.filter(organization=organization, external_id=external_id).exists():
        raise Conflict("Another member has that externalId.", field="externalId", code="uniqueness")
    default_role = (
        SamlIdentityProvider.objects.filter(organization=organization).values_list("default_role", flat=True).first()
        or Role.VIEWER
    )
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None, full_name=full_name[:150])
            record_audit_event(
                actor=actor,
                action="accounts.user_provisioned",
                target=user,
                organization=organization,
                data={"method": "scim"},
            )
        membership = Membership.objects.create(
            user=user, organization=organization, role=default_role, external_id=external_id[:200]
        )
        record_audit_event(
            actor=actor,
            action="accounts.member_provisioned",
            target=membership,
            data={"user_id": str(user.pk), "role": default_role, "method": "scim"},
        )
    if not active:
        suspend_membership(membership=membership, actor=actor, reason="scim")
    return membership


def scim_update_member(
    *,
    membership: Membership,
    actor: Any,
    full_name: str | None = None,
    external_id: str | None = None,
    active: bool | None = None,
) -> Membership:
    """An identity provider changes a member (SCIM `PUT`/`PATCH /Users/{id}`); `active: false` deprovisions."""
    with transaction.atomic():
        fields: list[str] = []
        if external_id is not None and external_id != membership.external_id:
            taken = Membership.objects.filter(organization_id=membership.organization_id, external_id=external_id)
            if external_id and taken.exclude(pk=membership.pk).exists():
                raise Conflict("Another member has that externalId.", field="externalId", code="uniqueness")
            membership.external_id = external_id[:200]
            membership.save(update_fields=["external_id", "updated_at"])
            fields.append("external_id")
        user = membership.user
        if full_name is not None and full_name.strip() != user.full_name:
            user.full_name = full_name.strip()[:150]
            user.save(update_fields=["full_name"])
            fields.append("full_name")
        if fields:
            record_audit_event(
                actor=actor,
                action="accounts.member_updated",
                target=membership,
                data={"user_id": str(membership.user_id), "fields": fields, "source": "scim"},
            )
        if active is False and membership.is_active:
            suspend_membership(membership=membership, actor=actor, reason="scim")
        elif active is True and not membership.is_active:
            reactivate_membership(membership=membership, actor=actor)
    return membership


def refresh_saml_metadata(*, idp: SamlIdentityProvider) -> bool:
    """Re-read an IdP's metadata from its URL (certificate rotation). Returns whether the document changed.

    A fetch or a document that fails validation keeps the stored metadata and is audited, so sign-in keeps
    working with the last good document.
    """
    from apps.accounts.sso.outbound import fetch_idp_metadata
    from apps.accounts.sso.saml import read_idp_metadata

    if not idp.metadata_url:
        return False
    try:
        document = fetch_idp_metadata(idp.metadata_url).strip()
        entity_id = read_idp_metadata(document)
    except BusinessRuleViolation as exc:
        record_audit_event(
            actor=None,
            action="accounts.saml_metadata_refresh_failed",
            target=idp,
            organization=idp.organization_id,
            data={"code": exc.code},
        )
        return False
    changed = document != idp.metadata_xml
    with transaction.atomic():
        idp.metadata_fetched_at = timezone.now()
        fields = ["metadata_fetched_at", "updated_at"]
        if changed:
            idp.metadata_xml, idp.entity_id = document, entity_id
            fields += ["metadata_xml", "entity_id"]
        idp.save(update_fields=fields)
        if changed:
            record_audit_event(
                actor=None, action="accounts.saml_metadata_refreshed", target=idp, organization=idp.organization_id
            )
    return changed


# How long ended sessions stay listed (and in the admin) before housekeeping removes them.
ENDED_SESSIONS_KEPT_DAYS = 90


def clear_expired_credentials() -> dict[str, int]:
    """Housekeeping: expired OAuth2 tokens and grants, expired Django sessions, long-ended session rows."""
    from datetime import timedelta
    from importlib import import_module

    from oauth2_provider.models import clear_expired

    clear_expired()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    with contextlib.suppress(NotImplementedError):  # cache-backed sessions expire by themselves
        store.clear_expired()
    cutoff = timezone.now() - timedelta(days=ENDED_SESSIONS_KEPT_DAYS)
    removed, _ = UserSession.objects.filter(ended_at__lt=cutoff).delete()
    # Sessions whose store row expired without a sign-out: mark them ended so they stop being listed.
    expired = UserSession.objects.filter(
        ended_at__isnull=True, last_seen_at__lt=timezone.now() - settings.SESSION_ABSOLUTE_TIMEOUT
    ).update(ended_at=timezone.now(), end_reason="expired")
    return {"ended_sessions_removed": removed, "sessions_marked_expired": expired}
