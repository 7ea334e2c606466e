"""Who a machine caller is, as the rest of the platform sees it.

`request.user` is a `ClientPrincipal` (authenticated, bound to one organization, its permissions are its
scopes'), and `request.auth` is the `GatewayCredential` that proved it: `apps.accounts.tenancy` reads the
organization from `request.auth.organization`, `user_can()` reads `machine_permissions`, and the audit log
records the actor as `api_client` with the client's id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apps.accounts.principals import MachinePrincipal
from apps.gateway.scopes import permissions_of

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.gateway.models import ApiClient, ApiKey, ClientCertificate


@dataclass(eq=False)
class ClientPrincipal(MachinePrincipal):
    """An API client calling with a key or a client certificate (see `apps.accounts.principals`)."""

    client: ApiClient
    scopes: frozenset[str]
    machine_permissions: frozenset[str] = field(init=False)

    audit_actor_type = "api_client"

    def __post_init__(self) -> None:
        self.machine_permissions = permissions_of(self.scopes)

    @property
    def pk(self) -> uuid.UUID:
        return self.client.pk

    @property
    def id(self) -> uuid.UUID:
        return self.client.pk

    @property
    def organization_id(self) -> uuid.UUID:
        return self.client.organization_id

    @property
    def organization(self) -> Organization:
        return self.client.organization

    def get_full_name(self) -> str:
        return self.client.name

    def __str__(self) -> str:
        return f"API client {self.client.name}"


@dataclass(eq=False)
class GatewayCredential:
    """What authenticated a machine call, and what it may do."""

    kind: str
    client: ApiClient
    organization: Organization
    scopes: frozenset[str]
    key: ApiKey | None = None
    certificate: ClientCertificate | None = None
    principal: ClientPrincipal = field(init=False)

    def __post_init__(self) -> None:
        self.principal = ClientPrincipal(client=self.client, scopes=self.scopes)

    @property
    def key_id(self) -> str:
        return self.key.key_id if self.key is not None else ""
