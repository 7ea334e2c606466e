"""Every write about organizations, memberships, teams and invitations. Each one is audited."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import Invitation, Membership, Organization, Team, TeamMembership, User
from apps.accounts.permissions import role_of
from apps.accounts.roles import Role, can_grant
from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.regions.selectors import placeable_region_codes
from apps.regions.services import record_organization_placement
from apps.security.services import record_audit_event

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
    *, team: Team, actor: User, name: str | None = None, description: str | None = None, parent: Any = ...
) -> Team:
    fields: list[str] = []
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
        record_audit_event(actor=actor, action="accounts.team_updated", target=team, data={"fields": sorted(fields)})
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
