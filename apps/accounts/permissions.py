"""The one permission check used by views, the API and the admin.

`user_can(user, perm, organization, obj=None)` is true when the user's role in the organization carries
the named permission (see `roles.py`), or when django-guardian holds an object grant for `obj`. For an API
client (a machine principal with `machine_permissions`) it is true when its scopes grant the permission.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from guardian.core import ObjectPermissionChecker

from apps.accounts.models import Organization
from apps.accounts.roles import PERMISSIONS, role_permissions
from apps.accounts.selectors import membership_for


def object_permission_codename(perm: str, obj: models.Model) -> str:
    """The guardian codename for a named permission on one object: `teams.manage` on a Team -> `manage_team`."""
    verb = perm.split(".", 1)[1]
    return f"{verb}_{obj._meta.model_name}"


def role_of(user: Any, organization: Organization | None) -> str | None:
    membership = membership_for(user, organization)
    return membership.role if membership else None


def user_can(user: Any, perm: str, organization: Organization | None, obj: models.Model | None = None) -> bool:
    if perm not in PERMISSIONS:
        raise ValueError(f"Unknown permission {perm!r}; add it to apps.accounts.roles.PERMISSIONS.")
    if not getattr(user, "is_authenticated", False) or not user.is_active or organization is None:
        return False
    if obj is not None and getattr(obj, "organization_id", organization.pk) != organization.pk:
        return False
    machine_permissions = getattr(user, "machine_permissions", None)
    if machine_permissions is not None:
        # An API client (apps.gateway.principals): its scopes grant permissions in its own organization only.
        return user.organization_id == organization.pk and perm in machine_permissions
    role = role_of(user, organization)
    if role is not None and perm in role_permissions(role):
        return True
    if obj is not None and role is not None:
        checker: ObjectPermissionChecker = user.__dict__.setdefault("_guardian_checker", ObjectPermissionChecker(user))
        return checker.has_perm(object_permission_codename(perm, obj), obj)
    return False
