"""The one permission check used by views, the API and the admin.

`user_can(user, perm, organization, obj=None)` is true when

- the principal's *effective role* in the organization carries the named permission (see `roles.py`). A
  person's effective role is the highest of their membership's role and the roles of the teams they are in,
  where a team's role also applies to every team nested inside it; or
- django-guardian holds an object grant of `perm` on `obj` for the person;

and, when the request carries an OAuth2 token, the token's scopes include the permission's scope (see
`scopes.py`). A machine principal (`MachinePrincipal`: API client or OAuth app) is allowed by its scopes alone,
in its organization.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from guardian.core import ObjectPermissionChecker

from apps.accounts.models import Organization, Team, TeamMembership
from apps.accounts.principals import MachinePrincipal
from apps.accounts.roles import PERMISSIONS, ROLE_RANK, role_permissions
from apps.accounts.scopes import scopes_allow
from apps.accounts.selectors import membership_for

# Set on a user instance by the OAuth2 authentication: the scopes of the token the request carries.
TOKEN_SCOPES_ATTRIBUTE = "_nofx_token_scopes"  # noqa: S105 - an attribute name, not a secret


def object_permission_codename(perm: str, obj: models.Model) -> str:
    """The guardian codename for a named permission on one object: `teams.manage` on a Team -> `manage_team`."""
    verb = perm.split(".", 1)[1]
    return f"{verb}_{obj._meta.model_name}"


def highest_role(roles: list[str]) -> str | None:
    ranked = [r for r in roles if r in ROLE_RANK]
    return max(ranked, key=lambda r: ROLE_RANK[r]) if ranked else None


def inherited_team_roles(organization: Organization, membership_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Team id -> role, for every team that gives the member a role (their own teams or an ancestor of one)."""
    teams = {
        pk: (parent_id, role)
        for pk, parent_id, role in Team.objects.filter(organization=organization).values_list("id", "parent_id", "role")
    }
    if not any(role for _, role in teams.values()):
        return {}
    found: dict[uuid.UUID, str] = {}
    own = TeamMembership.objects.filter(membership_id=membership_id).values_list("team_id", flat=True)
    for team_id in own:
        node: uuid.UUID | None = team_id
        seen: set[uuid.UUID] = set()
        while node is not None and node in teams and node not in seen:
            seen.add(node)
            parent_id, role = teams[node]
            if role:
                found[node] = role
            node = parent_id
    return found


def role_of(user: Any, organization: Organization | None) -> str | None:
    """The person's effective role: their membership's role raised by any team role they inherit."""
    membership = membership_for(user, organization)
    if membership is None or not membership.is_active or organization is None:
        return None
    cache: dict[Any, str | None] = user.__dict__.setdefault("_effective_role_cache", {})
    if organization.pk not in cache:
        team_roles = inherited_team_roles(organization, membership.pk)
        cache[organization.pk] = highest_role([membership.role, *team_roles.values()])
    return cache[organization.pk]


def user_can(user: Any, perm: str, organization: Organization | None, obj: models.Model | None = None) -> bool:
    if perm not in PERMISSIONS:
        raise ValueError(f"Unknown permission {perm!r}; add it to apps.accounts.roles.PERMISSIONS.")
    if not getattr(user, "is_authenticated", False) or not user.is_active or organization is None:
        return False
    if obj is not None and getattr(obj, "organization_id", organization.pk) != organization.pk:
        return False
    if isinstance(user, MachinePrincipal):
        # An API client or OAuth app: its scopes grant permissions in its own organization only.
        return bool(user.organization_id == organization.pk and perm in user.machine_permissions)
    token_scopes = user.__dict__.get(TOKEN_SCOPES_ATTRIBUTE)
    if token_scopes is not None and not scopes_allow(token_scopes, perm):
        return False
    role = role_of(user, organization)
    if role is not None and perm in role_permissions(role):
        return True
    if obj is not None and role is not None:
        checker: ObjectPermissionChecker = user.__dict__.setdefault("_guardian_checker", ObjectPermissionChecker(user))
        return checker.has_perm(object_permission_codename(perm, obj), obj)
    return False
