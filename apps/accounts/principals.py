"""Principals that are not people: machine clients bound to one organization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.accounts.models import Organization


@dataclass(eq=False)
class ServicePrincipal:
    """A machine client (an OAuth app using client credentials) acting for exactly one organization.

    It stands where DRF expects a user: authenticated, never staff, and its rights are its token's scopes.
    """

    client_id: str
    application_pk: Any
    organization: Organization
    scopes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    # How the audit log names this actor (see apps.security.services.describe_actor).
    audit_actor_type = "oauth_app"

    @property
    def pk(self) -> Any:
        return self.application_pk

    def get_full_name(self) -> str:
        return f"OAuth app {self.client_id}"

    def __str__(self) -> str:
        return self.get_full_name()
