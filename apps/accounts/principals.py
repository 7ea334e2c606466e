"""Principals that are not people: machine clients bound to one organization.

Every machine caller - an API client using a key or a client certificate (`apps.gateway.principals`),
or an OAuth app using client credentials (`ServicePrincipal`) - is a `MachinePrincipal`: authenticated,
never staff, bound to one organization, and allowed exactly the permissions its scopes grant
(`apps.accounts.scopes`). `user_can()` checks all of them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apps.accounts.scopes import permissions_of

if TYPE_CHECKING:
    from apps.accounts.models import Organization


class MachinePrincipal:
    """What every machine principal offers where DRF and `user_can()` expect a user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    # How the audit log names this actor (see apps.security.services.describe_actor).
    audit_actor_type = "machine"

    scopes: frozenset[str]
    machine_permissions: frozenset[str]
    # Each also offers `organization`, the one organization it acts for.

    @property
    def organization_id(self) -> Any:
        raise NotImplementedError


@dataclass(eq=False)
class ServicePrincipal(MachinePrincipal):
    """A machine client (an OAuth app using client credentials) acting for exactly one organization."""

    client_id: str
    application_pk: Any
    organization: Organization
    scopes: frozenset[str] = field(default_factory=frozenset)
    machine_permissions: frozenset[str] = field(init=False)

    audit_actor_type = "oauth_app"

    def __post_init__(self) -> None:
        self.machine_permissions = permissions_of(self.scopes)

    @property
    def pk(self) -> Any:
        return self.application_pk

    @property
    def organization_id(self) -> Any:
        return self.organization.pk

    def get_full_name(self) -> str:
        return f"OAuth app {self.client_id}"

    def __str__(self) -> str:
        return self.get_full_name()
