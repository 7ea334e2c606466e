"""What a provider needs at run time: the `Connection`, and where rotated credentials are written back."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from apps.connectors.policies import RateLimitPolicy, RetryPolicy

if TYPE_CHECKING:
    from apps.connectors.models import Connector
    from apps.connectors.providers.base import Provider


class CredentialsStore(Protocol):
    """Decrypted credentials of one connection, re-read and replaced atomically (rotated OAuth tokens)."""

    def load(self) -> dict[str, Any]: ...

    def reload(self) -> dict[str, Any]: ...

    def replace(self, update: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]: ...


class InMemoryCredentialsStore:
    """For provider tests, the benchmark and sandboxes: credentials that live as long as the object."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self._credentials = copy.deepcopy(credentials)
        self._lock = threading.Lock()
        self.writes = 0

    def load(self) -> dict[str, Any]:
        return copy.deepcopy(self._credentials)

    def reload(self) -> dict[str, Any]:
        return self.load()

    def replace(self, update: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self._credentials = update(copy.deepcopy(self._credentials))
            self.writes += 1
            return copy.deepcopy(self._credentials)


class DatabaseCredentialsStore:
    """A connector's encrypted credentials. `replace` locks the row, so two workers never interleave."""

    def __init__(self, connector_id: Any, initial: dict[str, Any] | None = None) -> None:
        self.connector_id = connector_id
        self._cached = copy.deepcopy(initial) if initial is not None else None

    def load(self) -> dict[str, Any]:
        if self._cached is None:
            return self.reload()
        return copy.deepcopy(self._cached)

    def reload(self) -> dict[str, Any]:
        from apps.connectors.models import Connector

        stored = Connector.objects.filter(pk=self.connector_id).values_list("credentials", flat=True).first()
        self._cached = dict(stored or {})
        return copy.deepcopy(self._cached)

    def replace(self, update: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        from apps.connectors.services import write_refreshed_credentials

        self._cached = write_refreshed_credentials(connector_id=self.connector_id, update=update)
        return copy.deepcopy(self._cached)


@dataclass
class Connection:
    """One organization's connection to one external system, as providers and the transport see it."""

    id: str
    provider: str
    base_url: str
    settings: dict[str, Any] = field(default_factory=dict)
    credentials_store: CredentialsStore = field(default_factory=lambda: InMemoryCredentialsStore({}))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    timeout: float = 30.0
    organization_id: str | None = None
    # A declarative connector's manifest document (None for coded providers).
    manifest: dict[str, Any] | None = None


def connection_for(connector: Connector) -> Connection:
    """The run-time view of a stored connector."""
    return Connection(
        id=str(connector.pk),
        provider=connector.provider,
        base_url=connector.base_url,
        settings=dict(connector.settings or {}),
        credentials_store=DatabaseCredentialsStore(connector.pk, initial=connector.credentials or {}),
        retry=RetryPolicy.from_dict(connector.retry_policy),
        rate_limit=RateLimitPolicy.from_dict(connector.rate_limit),
        timeout=connector.timeout_seconds,
        organization_id=str(connector.organization_id),
        manifest=connector.manifest.document if connector.manifest_id and connector.manifest else None,
    )


def provider_for(connector: Connector) -> Provider:
    """A ready provider for a stored connector; close it (or use `with`) when done."""
    from apps.connectors.providers import build_provider

    return build_provider(connection_for(connector))
