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


def request_memberships(request: HttpRequest) -> list[Membership]:
    """The signed-in person's active memberships, oldest first, read once per request.

    Middleware, the header's organization switcher, tenancy and the pages all need them; kept on the
    request (not the user object, which a test client may reuse across requests).
    """
    cached: list[Membership] | None = getattr(request, "_nofx_memberships", None)
    user = getattr(request, "user", None)
    if cached is None or getattr(request, "_nofx_memberships_user", None) is not user:
        cached = list(memberships_of(user).order_by("created_at")) if user is not None else []
        request._nofx_memberships = cached  # type: ignore[attr-defined]
        request._nofx_memberships_user = user  # type: ignore[attr-defined]
    return cached


def forget_memberships(request: HttpRequest) -> None:
    """After a write that changes them (joining or creating an organization) within the same request."""
    for name in ("_nofx_memberships", "_nofx_memberships_user", "_nofx_organization"):
        request.__dict__.pop(name, None)


def organization_of_principal(request: HttpRequest, auth: Any = None) -> Organization | None:
    bound = getattr(auth, "organization", None)
    if isinstance(bound, Organization):
        return bound if bound.is_active else None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = request_memberships(request)
    wanted_slug = request.META.get(HEADER)
    if wanted_slug:
        # A slug the user does not belong to names no organization for them: nothing is visible.
        named = next((m for m in memberships if m.organization.slug == wanted_slug), None)
        return named.organization if named else None
    session = getattr(request, "session", None)
    wanted_id = session.get(SESSION_KEY) if session is not None else None
    chosen = next((m for m in memberships if str(m.organization_id) == str(wanted_id)), None) if wanted_id else None
    if chosen is None and memberships:
        chosen = memberships[0]
    return chosen.organization if chosen else None


def request_organization(request: HttpRequest) -> Organization | None:
    """The organization the request acts for, resolved once per request."""
    cached = getattr(request, "_nofx_organization", _UNSET)
    if cached is _UNSET:
        cached = organization_of_principal(request, getattr(request, "auth", None))
        request._nofx_organization = cached  # type: ignore[attr-defined]
    return cached  # type: ignore[return-value]


def set_active_organization(request: HttpRequest, organization: Organization) -> None:
    forget_memberships(request)
    request.session[SESSION_KEY] = str(organization.pk)
    request._nofx_organization = organization  # type: ignore[attr-defined]
