"""The scopes of the API, declared once for every credential: OAuth2 tokens, API keys and mTLS identities.

A scope grants a set of the named permissions of `apps.accounts.roles`. Each API area gives `<area>:read`
(its `view`/`review` permissions) and `<area>:write` (its other permissions). A few scopes, first offered
to API keys, grant more and keep their names: `organization:read` also reads members and teams, the
`:write` scopes of teams and the gateway also read them, `connectors:execute` runs connector actions and
`workflows:run` runs workflows.

A token's scopes narrow what its principal may do: `user_can()` refuses a named permission its scopes do
not grant, whatever the person's role. Machine principals (API clients, OAuth client-credentials apps)
may do exactly what their scopes grant, in their own organization.

API keys and mTLS identities may only carry the `MACHINE_SCOPES`: managing people (members,
invitations, the organization itself, sign-in and SSO) and buying stay with people signed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apps.accounts.roles import PERMISSIONS

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


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    permissions: frozenset[str]


def scope_for_permission(perm: str) -> str:
    """The area scope that grants a named permission (see apps.accounts.roles.PERMISSIONS)."""
    area, verb = perm.split(".", 1)
    area = _AREA_OF_PERMISSION_AREA.get(area, area)
    return f"{area}:{'read' if verb in _READ_VERBS else 'write'}"


def _area_scopes() -> dict[str, Scope]:
    granted: dict[str, set[str]] = {}
    for perm in PERMISSIONS:
        granted.setdefault(scope_for_permission(perm), set()).add(perm)
    scopes: dict[str, Scope] = {}
    for area, covers in API_AREAS.items():
        for kind, verb in (("read", "Read"), ("write", "Change")):
            name = f"{area}:{kind}"
            scopes[name] = Scope(name, f"{verb} {covers}", frozenset(granted.get(name, ())))
    return scopes


# The scopes API keys were first offered, by name: what they grant beyond their area scope, if anything.
_MACHINE_GRANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "organization:read": ("Read the organization's profile, members and teams", ("members.view", "teams.view")),
    "teams:write": ("Create, change and delete teams", ("teams.view",)),
    "audit:read": ("Read the organization's audit log", ()),
    "connectors:read": ("See connectors, their actions and health", ()),
    "connectors:execute": ("Invoke connector actions through the gateway", ("connectors.operate",)),
    "workflows:read": ("See integration workflows and their runs", ()),
    "workflows:run": ("Run, pause and resume workflows", ("workflows.view", "workflows.operate")),
    "gateway:read": ("See API clients, keys and usage", ()),
    "gateway:write": ("Manage API clients and keys (never beyond the caller's own scopes)", ("gateway.view",)),
}


def _all_scopes() -> dict[str, Scope]:
    scopes = _area_scopes()
    for name, (description, extra) in _MACHINE_GRANTS.items():
        base = scopes.get(name)
        permissions = (base.permissions if base else frozenset()) | frozenset(extra)
        scopes[name] = Scope(name, description, permissions)
    return scopes


SCOPES: dict[str, Scope] = _all_scopes()

# Areas a machine credential may not change: people and who may sign in (members, invitations, the
# organization itself, sign-in policy and SSO under `security:write`), and money (`billing:write`).
_PEOPLE_AND_MONEY = frozenset({"organization:write", "members:write", "security:write", "billing:write"})
# The scopes an API key or mTLS identity may carry (same names and grants as for OAuth tokens): the names
# keys were first offered, then every other area scope but those above.
MACHINE_SCOPES: dict[str, Scope] = {name: SCOPES[name] for name in _MACHINE_GRANTS} | {
    name: scope for name, scope in SCOPES.items() if name not in _PEOPLE_AND_MONEY and name not in _MACHINE_GRANTS
}

# name -> description, as the OAuth2 provider and the schema list them.
API_SCOPES: dict[str, str] = {name: scope.description for name, scope in SCOPES.items()}

# OpenID Connect scopes: any web app may ask for them (they only describe the person who signs in).
IDENTITY_SCOPES: dict[str, str] = {
    "openid": "Know who you are (an ID token)",
    "email": "See your email address",
    "profile": "See your name",
}

# What a new OAuth app asks for when it names no scope.
DEFAULT_SCOPES: tuple[str, ...] = ("organization:read",)


def permissions_of(names: Iterable[str]) -> frozenset[str]:
    """The named permissions a set of scopes grants together (unknown names grant nothing)."""
    granted: set[str] = set()
    for name in names:
        scope = SCOPES.get(name)
        if scope is not None:
            granted |= scope.permissions
    return frozenset(granted)


def scopes_allow(scopes: Iterable[str], perm: str) -> bool:
    return perm in permissions_of(scopes)


def scopes_granting(permission: str, among: Iterable[str] | None = None) -> list[str]:
    """Which scopes would grant a named permission (to tell a client what it is missing)."""
    names = SCOPES if among is None else among
    return sorted(name for name in names if permission in SCOPES[name].permissions)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - set(API_SCOPES))
