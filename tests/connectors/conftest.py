"""Wiring for connector tests: vendor sandboxes on loopback, and connections pointed at them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils.module_loading import import_string

from apps.connectors.connections import Connection, InMemoryCredentialsStore
from apps.connectors.policies import RateLimitPolicy, RetryPolicy
from apps.connectors.providers import build_provider
from apps.connectors.providers.base import Provider
from apps.connectors.sandboxes import SANDBOXES
from apps.connectors.sandboxes.server import Sandbox

# Fast but real: retries sleep for milliseconds, not seconds.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[dict[str, Sandbox]]:
    """One server per vendor per test process, started on first use."""
    started: dict[str, Sandbox] = {}
    yield started
    for sandbox in started.values():
        sandbox.stop()


@pytest.fixture
def sandbox_for(sandbox_servers: dict[str, Sandbox]) -> Callable[[str], Sandbox]:
    """`sandbox_for("github")`: the running GitHub sandbox, emptied for this test."""
    reset: set[str] = set()

    def get(name: str) -> Sandbox:
        if name not in sandbox_servers:
            sandbox_servers[name] = import_string(SANDBOXES[name])().start()
        sandbox = sandbox_servers[name]
        if name not in reset:
            sandbox.limit_rate(None)
            sandbox.reset()
            reset.add(name)
        return sandbox

    return get


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    """Sandboxes listen on 127.0.0.1, which the platform refuses unless told otherwise."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True


def make_connection(
    kind: str,
    base_url: str,
    *,
    settings: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    retry: RetryPolicy = FAST_RETRY,
    rate_limit: RateLimitPolicy | None = None,
    manifest: dict[str, Any] | None = None,
) -> Connection:
    return Connection(
        id=f"test-{uuid.uuid4().hex}",
        provider=kind,
        base_url=base_url,
        settings=settings or {},
        credentials_store=InMemoryCredentialsStore(credentials or {}),
        retry=retry,
        rate_limit=rate_limit or RateLimitPolicy(),
        timeout=5.0,
        manifest=manifest,
    )


@pytest.fixture
def provider_factory(loopback_allowed: None) -> Iterator[Callable[..., Provider]]:
    """Build providers against sandboxes; every one is closed after the test."""
    made: list[Provider] = []

    def build(kind: str, base_url: str, **kwargs: Any) -> Provider:
        provider = build_provider(make_connection(kind, base_url, **kwargs))
        made.append(provider)
        return provider

    yield build
    for provider in made:
        provider.close()
