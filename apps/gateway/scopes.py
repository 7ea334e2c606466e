"""The scopes an API key or mTLS identity can carry: the machine part of the one list, `apps.accounts.scopes`.

OAuth2 tokens, API keys and mTLS identities speak the same scope names with the same grants; this module
only narrows the list to what a machine credential may be given (managing people stays with people
signed in). `SCOPES` and the helpers keep the names the gateway has always exported.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.accounts.scopes import MACHINE_SCOPES, Scope, permissions_of
from apps.accounts.scopes import scopes_granting as _scopes_granting

__all__ = ["SCOPES", "SCOPE_CHOICES", "Scope", "permissions_of", "scope_choices", "scopes_granting", "unknown_scopes"]

SCOPES: dict[str, Scope] = MACHINE_SCOPES


def scope_choices() -> list[tuple[str, str]]:
    return [(scope.name, scope.description) for scope in SCOPES.values()]


SCOPE_CHOICES: list[tuple[str, str]] = scope_choices()


def unknown_scopes(names: Iterable[str]) -> list[str]:
    """Names that are no scope a machine credential may carry."""
    return sorted(set(names) - set(SCOPES))


def scopes_granting(permission: str) -> list[str]:
    """Which machine scopes would grant a named permission (to tell a client what it is missing)."""
    return _scopes_granting(permission, among=SCOPES)
