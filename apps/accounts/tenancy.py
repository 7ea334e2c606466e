"""Which organization a request acts for. It always comes from the authenticated principal.

- A machine principal (API key, OAuth client, mTLS identity) is bound to one organization: `request.auth`
  carries it.
- A person may belong to several organizations. They choose one with the `X-Organization` header (a slug)
  or in the console (kept in the session); it only counts when they are a member. Otherwise their oldest
  membership is used.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.accounts.models import Membership, Organization
from apps.accounts.selectors import memberships_of

SESSION_KEY = "active_organization_id"
HEADER = "HTTP_X_ORGANIZATION"
_UNSET = object()


def organization_of_principal(request: HttpRequest, auth: Any = None) -> Organization | None:
    bound = getattr(auth, "organization", None)
    if isinstance(bound, Organization):
        return bound if bound.is_active else None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = memberships_of(user)
    wanted_slug = request.META.get(HEADER)
    if wanted_slug:
        # A slug the user does not belong to names no organization for them: nothing is visible.
        named = memberships.filter(organization__slug=wanted_slug).first()
        return named.organization if named else None
    session = getattr(request, "session", None)
    wanted_id = session.get(SESSION_KEY) if session is not None else None
    chosen: Membership | None = None
    if wanted_id:
        chosen = memberships.filter(organization_id=wanted_id).first()
    if chosen is None:
        chosen = memberships.order_by("created_at").first()
    return chosen.organization if chosen else None


def request_organization(request: HttpRequest) -> Organization | None:
    """The organization the request acts for, resolved once per request."""
    cached = getattr(request, "_nofx_organization", _UNSET)
    if cached is _UNSET:
        cached = organization_of_principal(request, getattr(request, "auth", None))
        request._nofx_organization = cached  # type: ignore[attr-defined]
    return cached  # type: ignore[return-value]


def set_active_organization(request: HttpRequest, organization: Organization) -> None:
    request.session[SESSION_KEY] = str(organization.pk)
    request._nofx_organization = organization  # type: ignore[attr-defined]
