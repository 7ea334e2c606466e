"""The scopes a machine credential (API key, mTLS identity, OAuth2 token) can carry: the one list of them.

A scope names an API area and what may be done there; it grants a set of the named permissions of
`apps.accounts.roles`, which `user_can()` checks for machine principals exactly as it checks roles for
people. Only areas whose services are safe for a machine actor are offered: managing people
(members, invitations, the organization itself, object grants) stays with people signed in.
The OAuth2 provider takes its scope list from `oauth2_scope_descriptions()` so both speak the same names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    permissions: frozenset[str]


def _scope(name: str, description: str, *permissions: str) -> Scope:
    return Scope(name=name, description=description, permissions=frozenset(permissions))


SCOPES: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        _scope("organization:read", "Read the organization's members and teams", "members.view", "teams.view"),
        _scope("teams:write", "Create, change and delete teams", "teams.view", "teams.manage"),
        _scope("audit:read", "Read the organization's audit log", "audit.view"),
        _scope("connectors:read", "See connectors, their actions and health", "connectors.view"),
        _scope("connectors:execute", "Invoke connector actions through the gateway", "connectors.operate"),
        _scope("workflows:read", "See integration workflows and their runs", "workflows.view"),
        _scope("workflows:run", "Run, pause and resume workflows", "workflows.view", "workflows.operate"),
        _scope("gateway:read", "See API clients, keys and usage", "gateway.view"),
        _scope(
            "gateway:write",
            "Manage API clients and keys (never beyond the caller's own scopes)",
            "gateway.view",
            "gateway.manage",
        ),
    )
}


def scope_choices() -> list[tuple[str, str]]:
    return [(scope.name, scope.description) for scope in SCOPES.values()]


SCOPE_CHOICES: list[tuple[str, str]] = scope_choices()


def oauth2_scope_descriptions() -> dict[str, str]:
    """`OAUTH2_PROVIDER["SCOPES"]` for the OAuth2 provider."""
    return {scope.name: scope.description for scope in SCOPES.values()}


def unknown_scopes(names: Iterable[str]) -> list[str]:
    return sorted(set(names) - set(SCOPES))


def permissions_of(names: Iterable[str]) -> frozenset[str]:
    """The named permissions a set of scopes grants together (unknown names grant nothing)."""
    granted: set[str] = set()
    for name in names:
        scope = SCOPES.get(name)
        if scope is not None:
            granted |= scope.permissions
    return frozenset(granted)


def scopes_granting(permission: str) -> list[str]:
    """Which scopes would grant a named permission (to tell a client what it is missing)."""
    return sorted(scope.name for scope in SCOPES.values() if permission in scope.permissions)
