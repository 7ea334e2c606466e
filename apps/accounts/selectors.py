"""Reads about people and organizations that several callers share."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import Membership, Organization, User


def memberships_of(user: Any) -> QuerySet[Membership]:
    # Only people have memberships; a machine principal (OAuth client) is bound to its organization instead.
    if not isinstance(user, User) or not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, is_active=True, organization__is_active=True).select_related(
        "organization"
    )


def membership_for(user: Any, organization: Organization | None) -> Membership | None:
    if organization is None or not isinstance(user, User) or not user.is_authenticated:
        return None
    cache: dict[Any, Membership | None] = user.__dict__.setdefault("_membership_cache", {})
    if organization.pk not in cache:
        cache[organization.pk] = Membership.objects.filter(user=user, organization=organization).first()
    return cache[organization.pk]


def organizations_of(user: Any) -> QuerySet[Organization]:
    if not isinstance(user, User):
        bound = getattr(user, "organization", None)
        if not isinstance(bound, Organization):
            return Organization.objects.none()
        return Organization.objects.filter(pk=bound.pk, is_active=True)
    return Organization.objects.filter(memberships__user=user, memberships__is_active=True, is_active=True).order_by(
        "name"
    )


def email_domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""


def organization_for_email_domain(email: str) -> Organization | None:
    """The organization that holds a verified claim on the email's domain, if any."""
    from apps.accounts.models import EmailDomain

    domain = email_domain_of(email)
    if not domain:
        return None
    claim = (
        EmailDomain.objects.select_related("organization")
        .filter(domain=domain, verified_at__isnull=False, organization__is_active=True)
        .first()
    )
    return claim.organization if claim else None


def sso_sign_in_url(organization: Organization) -> str | None:
    """Where a person of this organization starts single sign-on, or None when it has no enabled IdP."""
    from django.urls import reverse

    from apps.accounts.models import OidcIdentityProvider, SamlIdentityProvider

    saml = SamlIdentityProvider.objects.filter(organization=organization, is_enabled=True).first()
    if saml is not None and saml.metadata_xml:
        return reverse("sso:saml_login", args=[organization.slug])
    oidc = OidcIdentityProvider.objects.filter(organization=organization, is_enabled=True).first()
    if oidc is not None:
        return reverse("openid_connect_login", args=[oidc.provider_id])
    return None


def password_sign_in_refused(user: Any) -> Organization | None:
    """The organization whose "require SSO" refuses this person a password sign-in, or None.

    The organization's break-glass owner is excepted, so that an IdP outage cannot lock everyone out.
    """
    from apps.accounts.models import SecurityPolicy

    if user is None or getattr(user, "pk", None) is None:
        return None
    policy = (
        SecurityPolicy.objects.select_related("organization")
        .filter(
            require_sso=True,
            organization__is_active=True,
            organization__memberships__user=user,
            organization__memberships__is_active=True,
        )
        .exclude(break_glass_user=user)
        .first()
    )
    return policy.organization if policy else None


# -- Who can do what on an object --------------------------------------------------------------------------------


def permission_area_of(obj: Any) -> str:
    """The permission area an object's model falls under: a Team -> `teams`, a Connector -> `connectors`."""
    from apps.accounts.roles import PERMISSIONS

    area = f"{obj._meta.model_name}s"
    return area if any(name.startswith(f"{area}.") for name in PERMISSIONS) else ""


def access_to_object(organization: Organization, obj: Any) -> list[dict[str, Any]]:
    """Every active member who can do anything on `obj`, with the permissions they hold and where each comes from.

    Sources: the member's own role, a team role (inherited down nested teams), or a django-guardian object grant.
    A fixed number of queries, however many members and teams.
    """
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import UserObjectPermission

    from apps.accounts.models import Team, TeamMembership
    from apps.accounts.permissions import highest_role
    from apps.accounts.roles import PERMISSIONS, role_permissions

    area = permission_area_of(obj)
    relevant = sorted(name for name in PERMISSIONS if not area or name.startswith(f"{area}."))
    teams = {t.pk: t for t in Team.objects.filter(organization=organization).only("id", "name", "parent_id", "role")}
    links: dict[Any, list[Any]] = {}
    for link in TeamMembership.objects.filter(team__organization=organization).values("membership_id", "team_id"):
        links.setdefault(link["membership_id"], []).append(link["team_id"])
    content_type = ContentType.objects.get_for_model(type(obj))
    grants: dict[Any, set[str]] = {}
    for grant in UserObjectPermission.objects.filter(content_type=content_type, object_pk=str(obj.pk)).select_related(
        "permission"
    ):
        verb = grant.permission.codename.rsplit("_", 1)[0]
        if f"{area}.{verb}" in PERMISSIONS:
            grants.setdefault(grant.user_id, set()).add(f"{area}.{verb}")
    rows = []
    memberships = Membership.objects.filter(organization=organization, is_active=True, user__is_active=True)
    for membership in memberships.select_related("user").order_by("user__email"):
        sources = [f"role: {membership.get_role_display()}"]
        roles = [membership.role]
        seen: set[Any] = set()
        for team_id in links.get(membership.pk, []):
            node = teams.get(team_id)
            while node is not None and node.pk not in seen:
                seen.add(node.pk)
                if node.role:
                    roles.append(node.role)
                    sources.append(f"team {node.name}: {node.get_role_display()}")
                node = teams.get(node.parent_id) if node.parent_id else None
        effective = highest_role(roles)
        from_role = {name for name in relevant if effective and name in role_permissions(effective)}
        granted = grants.get(membership.user_id, set()) - from_role
        if granted:
            sources.append("object grant")
        if not from_role and not granted:
            continue
        rows.append(
            {
                "membership": membership,
                "user": membership.user,
                "effective_role": effective,
                "permissions": sorted(from_role | granted),
                "granted": sorted(granted),
                "sources": sources,
            }
        )
    return rows
