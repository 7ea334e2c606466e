"""Wiring shared by the whole suite."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Organization, User
from apps.accounts.roles import Role
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory

# Real identity providers on loopback (SimpleSAMLphp, oidc-provider, slapd), started once per session.
pytest_plugins = ["tests.peers"]

# In CI these services are part of the contract: a test that needs one fails when it is missing.
REQUIRE_SERVICES = os.environ.get("NOFX_REQUIRE_SERVICES", "") == "1"


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    available = {"postgres": _on_postgres(), "redis": bool(settings.REDIS_URL)}
    missing = {name for name, ok in available.items() if not ok}
    if not missing:
        return
    keep, drop = [], []
    for item in items:
        (drop if missing & {m.name for m in item.iter_markers()} else keep).append(item)
    if drop and REQUIRE_SERVICES:
        raise pytest.UsageError(
            f"{len(drop)} tests need {', '.join(sorted(missing))}, which this run does not have "
            "(set DATABASE_URL to PostgreSQL and REDIS_URL)."
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"note: {len(drop)} tests need {', '.join(sorted(missing))} and were deselected; "
                "`.ci/run` runs them against the real services."
            )


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test talks to anything but loopback."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"Tests may only connect to loopback, not {host!r}.")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    from django.core.cache import cache

    from apps.core.process_cache import clear_all_local_copies

    yield
    # A transactional test's tables are emptied without signals: no process copy may outlive its rows.
    clear_all_local_copies()
    if not settings.REDIS_URL:
        cache.clear()
        return
    # Not cache.clear(): on Redis that is FLUSHDB, which would also wipe what parallel workers keep in the
    # same database mid-test (rate limits, connector budgets, locks). Each worker deletes only the keys under
    # its own prefix (nofx/settings/test.py), its cache's and its gateway's.
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{settings.TEST_REDIS_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _compiled_network_rules(request: pytest.FixtureRequest) -> None:
    """Compile the IP rules before the test, as a running worker already has them, so query-count guards
    measure the request itself rather than the one-off compile after the cache was emptied."""
    from apps.security import network_rules

    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))
    if marker is None and "db" not in request.fixturenames and not transactional:
        # No database in this test: there are no rules to compile either.
        network_rules._process.compiled = network_rules.CompiledRules(version=network_rules.current_version())
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    network_rules.compiled_rules()


@pytest.fixture
def connections_kept_across_requests() -> Iterator[None]:
    """For tests that drive a request the way a server does (and close its response): as the test client
    does, Django's end-of-request connection recycling is switched off, so the test's transaction survives."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def on_postgres() -> bool:
    return _on_postgres()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting there fails at once, as to a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cache_down(settings: Any, closed_port: int) -> Any:
    """`with cache_down():` the shared cache (a Redis at a closed port) refuses every command."""

    @contextmanager
    def down() -> Iterator[None]:
        reachable = settings.CACHES
        settings.CACHES = {
            "default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{closed_port}"}
        }
        try:
            yield
        finally:
            settings.CACHES = reachable

    return down


@pytest.fixture
def table_down(on_postgres: bool) -> Any:
    """`with table_down(Model):` the database refuses reads and writes of the model's table, so a failure is
    real. The table is renamed, and renamed back on leaving the block; in a test with a transaction around it
    the renames are rolled back too, so nothing outlives the test. PostgreSQL only."""
    assert on_postgres, "mark the test postgres"

    def rename(old: str, new: str) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}")

    @contextmanager
    def down(model: Any) -> Iterator[None]:
        table = model._meta.db_table
        rename(table, f"{table}_down")
        try:
            yield
        finally:
            rename(f"{table}_down", table)

    return down


@pytest.fixture
def organization(db: None) -> Organization:
    return OrganizationFactory()


@pytest.fixture
def other_organization(db: None) -> Organization:
    return OrganizationFactory(name="Foreign Corp")


def _member(organization: Organization, role: str) -> User:
    return MembershipFactory(organization=organization, role=role).user


@pytest.fixture
def owner(organization: Organization) -> User:
    return _member(organization, Role.OWNER)


@pytest.fixture
def admin_user(organization: Organization) -> User:
    return _member(organization, Role.ADMIN)


@pytest.fixture
def viewer(organization: Organization) -> User:
    return _member(organization, Role.VIEWER)


@pytest.fixture
def make_member() -> Any:
    return _member


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner_client(owner: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.fixture
def user(db: None) -> User:
    return UserFactory()


@pytest.fixture
def membership_of() -> Any:
    def get(user: User, organization: Organization) -> Membership:
        return Membership.objects.get(user=user, organization=organization)

    return get


@pytest.fixture
def pg_cursor(db: None) -> Any:
    if not _on_postgres():
        pytest.fail("This test needs PostgreSQL.")
    with connection.cursor() as cursor:
        yield cursor


@pytest.fixture
def active_regions() -> list[str]:
    """New organizations may only be homed in active regions: these two, as in the demo (needs the test's db)."""
    from tests.factories.regions import RegionFactory

    return [RegionFactory(code=code).code for code in ("us-east", "eu-west")]


@pytest.fixture
def publisher(organization: Organization) -> Any:
    """The organization as a marketplace publisher (`acme`)."""
    from tests.factories.marketplace import PublisherFactory

    return PublisherFactory(organization=organization, slug="acme", name="Acme")


@pytest.fixture
def developer(organization: Organization, make_member: Any) -> User:
    return make_member(organization, Role.DEVELOPER)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run on-commit callbacks (the pipeline chain, activations, webhooks) as the block exits."""

    def runner() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return runner
