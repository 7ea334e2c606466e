"""Which views a machine caller may use at all.

A machine caller (an API client with a key or certificate, or an OAuth app with client credentials: a
`MachinePrincipal`) acts for its organization through its scopes, which grant named permissions. Views that
check a named permission for the action (`OrganizationScopedMixin` + `required_permissions`) are open to
it, within its scopes; views about a person (`/me/`, joining organizations, accepting invitations) are
not, nor is any view that has not said so (`machine_callers_allowed = True`).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.accounts.principals import MachinePrincipal


class MachineCallersOnlyWhereDeclared(BasePermission):
    message = "This endpoint is for people signed in to the console, not for API clients."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.user, MachinePrincipal):
            return True
        if getattr(view, "machine_callers_allowed", False):
            return True
        mapping: dict[str, str] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None) or request.method.lower()
        return bool(mapping.get(action) or mapping.get("*"))
