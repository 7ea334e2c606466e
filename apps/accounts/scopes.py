"""The OAuth2 scopes of the API, declared once: one `read` and one `write` scope per API area.

A token's scopes narrow what its principal may do: `user_can()` refuses a named permission whose scope the
token does not carry, whatever the person's role. `<area>.view` permissions need `<area>:read`; every other
permission of the area needs `<area>:write`.
"""

from __future__ import annotations

from collections.abc import Iterable

# API area -> what it covers. Each gives `<area>:read` and `<area>:write`.
API_AREAS: dict[str, str] = {
    "organization": "the organization's profile and settings",
    "members": "members, their roles and invitations",
    "teams": "teams and their members",
    "audit": "the audit log",
    "connectors": "connectors and their actions",
    "workflows": "integration workflows and their runs",
    "gateway": "API clients, keys and usage",
    "extensions": "installed and published extensions",
    "billing": "invoices, licenses and subscriptions",
    "security": "security events, IP rules and sign-in policy",
    "compliance": "compliance assessments and evidence",
}

# Permission areas that belong to another API area.
_AREA_OF_PERMISSION_AREA: dict[str, str] = {"invitations": "members", "access": "members", "identity": "security"}
# Verbs that only read.
_READ_VERBS = frozenset({"view", "review"})

API_SCOPES: dict[str, str] = {}
for _area, _covers in API_AREAS.items():
    API_SCOPES[f"{_area}:read"] = f"Read {_covers}"
    API_SCOPES[f"{_area}:write"] = f"Change {_covers}"

# OpenID Connect scopes: any web app may ask for them (they only describe the person who signs in).
IDENTITY_SCOPES: dict[str, str] = {
    "openid": "Know who you are (an ID token)",
    "email": "See your email address",
    "profile": "See your name",
}

# What a new OAuth app asks for when it names no scope.
DEFAULT_SCOPES: tuple[str, ...] = ("organization:read",)


def scope_for_permission(perm: str) -> str:
    """The scope a token needs to use a named permission (see apps.accounts.roles.PERMISSIONS)."""
    area, verb = perm.split(".", 1)
    area = _AREA_OF_PERMISSION_AREA.get(area, area)
    return f"{area}:{'read' if verb in _READ_VERBS else 'write'}"


def scopes_allow(scopes: Iterable[str], perm: str) -> bool:
    return scope_for_permission(perm) in set(scopes)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - set(API_SCOPES))
