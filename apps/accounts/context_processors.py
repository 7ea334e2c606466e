"""Template context shared by every page of the site."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.accounts.roles import role_permissions
from apps.accounts.tenancy import request_memberships, request_organization


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the site header needs: the signed-in person's organizations and the active one.

    Computed once per request, however many templates ask for it.
    """
    cached: dict[str, Any] | None = getattr(request, "_nofx_navigation", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    navigation: dict[str, Any] = {"nav_memberships": [], "active_organization": None, "can_manage_identity": False}
    if user is not None and user.is_authenticated:
        memberships = sorted(request_memberships(request), key=lambda m: m.organization.name)
        active = request_organization(request)
        navigation = {
            # The switcher only appears when there is something to switch to.
            "nav_memberships": memberships if len(memberships) > 1 else [],
            "active_organization": active,
            # A hint for the side navigation from rows already loaded; the pages themselves ask user_can().
            "can_manage_identity": any(
                m.organization_id == getattr(active, "pk", None) and "identity.manage" in role_permissions(m.role)
                for m in memberships
            ),
        }
    request._nofx_navigation = navigation  # type: ignore[attr-defined]
    return navigation
