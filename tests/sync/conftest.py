"""Wiring for sync tests: two real vendor systems on loopback, connectors pointed at them, workflows between."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.connectors import services as connector_services
from apps.connectors.models import Connector
from apps.connectors.providers.base import ChangePage
from apps.connectors.providers.github import GitHubProvider
from apps.connectors.sandboxes import github
from apps.connectors.sandboxes.github import GitHubSandbox
from apps.connectors.sandboxes.server import Sandbox
from apps.sync import services
from apps.sync.engine import SyncEngine
from apps.sync.models import IntegrationWorkflow, RunTrigger, SyncRun
from tests.connectors.conftest import loopback_allowed, sandbox_for, sandbox_servers  # noqa: F401 - shared fixtures

# Retries that wait milliseconds, not seconds: the behaviour is the same, the suite stays fast.
FAST_RETRY = {"max_attempts": 5, "base_delay": 0.01, "max_delay": 0.05, "max_retry_after": 5.0}
WEBHOOK_SECRET = "sync-test-webhook-secret"
GITHUB_SETTINGS = {"owner": github.OWNER, "repo": github.REPO}

# GitHub issues in one repository kept in step with GitHub issues in another GitHub (a second instance):
# two independent systems, each with its own ids, clocks and change feed.
ISSUE_MAPPING = [
    {"source": "title", "target": "title", "required": True},
    {"source": "body", "target": "body"},
    {"source": "state", "target": "state"},
]


def sandbox_connection(sandbox: Sandbox) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Provider, settings and credentials of a connector pointed at a sandbox (the sandbox says which)."""
    config = sandbox.demo_connection()
    return config["provider"], config["settings"], config["credentials"]


@pytest.fixture
def connect_sandbox(organization: Any, sandbox_for: Any, loopback_allowed: None) -> Callable[[str], Connector]:  # noqa: F811
    """A connector of `provider` in the organization, pointed at that provider's (emptied) sandbox."""

    def make(provider: str) -> Connector:
        sandbox = sandbox_for(provider)
        kind, settings_, credentials = sandbox_connection(sandbox)
        return connector_services.create_connector(
            organization=organization,
            actor=None,
            name=f"Sandbox {provider}",
            provider=kind,
            base_url=sandbox.url,
            settings_=settings_,
            credentials=credentials,
            retry_policy=FAST_RETRY,
        )

    return make


@pytest.fixture(scope="session")
def github_pair_servers() -> Iterator[tuple[GitHubSandbox, GitHubSandbox]]:
    left, right = GitHubSandbox().start(), GitHubSandbox().start()
    yield left, right
    left.stop()
    right.stop()


@pytest.fixture
def systems(github_pair_servers: tuple[GitHubSandbox, GitHubSandbox], loopback_allowed: None) -> Any:  # noqa: F811
    """The source system and the target system, emptied for this test."""
    for sandbox in github_pair_servers:
        sandbox.limit_rate(None)
        sandbox.reset()
    return github_pair_servers


@pytest.fixture
def connect(organization: Any) -> Callable[..., Connector]:
    def make(sandbox: GitHubSandbox, name: str, **kwargs: Any) -> Connector:
        return connector_services.create_connector(
            organization=kwargs.pop("organization", organization),
            actor=None,
            name=name,
            provider="github",
            base_url=sandbox.url,
            settings_=GITHUB_SETTINGS,
            credentials={"token": github.TOKEN, "webhook_secret": WEBHOOK_SECRET},
            retry_policy=kwargs.pop("retry_policy", FAST_RETRY),
            **kwargs,
        )

    return make


@pytest.fixture
def connectors(systems: Any, connect: Callable[..., Connector]) -> tuple[Connector, Connector]:
    left, right = systems
    return connect(left, "GitHub (source)"), connect(right, "GitHub (target)")


@pytest.fixture
def make_workflow(organization: Any, owner: Any, connectors: tuple[Connector, Connector]) -> Callable[..., Any]:
    source, target = connectors

    def make(**overrides: Any) -> IntegrationWorkflow:
        values: dict[str, Any] = {
            "organization": organization,
            "actor": owner,
            "name": "Issues to issues",
            "source_connector": source,
            "source_object_type": "issue",
            "target_connector": target,
            "target_object_type": "issue",
            "mappings": ISSUE_MAPPING,
        }
        values.update(overrides)
        return services.create_workflow(**values)

    return make


@pytest.fixture
def run_sync() -> Callable[..., SyncRun]:
    """Run a workflow once, the way the Celery task does."""

    def run(workflow: IntegrationWorkflow, **kwargs: Any) -> SyncRun:
        result = services.run_workflow(
            workflow_id=workflow.pk, trigger=kwargs.pop("trigger", RunTrigger.SCHEDULE), **kwargs
        )
        assert result is not None
        return result

    return run


def issues(sandbox: GitHubSandbox) -> dict[int, dict[str, Any]]:
    return dict(sandbox.issues)


def titles(sandbox: GitHubSandbox) -> list[str]:
    return sorted(issue["title"] for issue in sandbox.issues.values())


def writes(sandbox: GitHubSandbox) -> list[str]:
    """The writing calls a system received, as `METHOD path`."""
    return [f"{call.method} {call.path}" for call in sandbox.log if call.method in ("POST", "PATCH", "PUT", "DELETE")]


def circular_feed(monkeypatch: Any, sandbox: Sandbox) -> None:
    """Make the connector pointed at `sandbox` hand back its first page forever (a vendor's broken feed)."""
    real = GitHubProvider.read_changes

    def read_changes(
        self: GitHubProvider, object_type: str, since_cursor: str | None = None, **kwargs: Any
    ) -> ChangePage:
        if self.connection.base_url.rstrip("/") != sandbox.url.rstrip("/"):
            return real(self, object_type, since_cursor, **kwargs)
        page = real(self, object_type, None, **kwargs)
        return ChangePage(page.records, page.next_cursor, True)

    monkeypatch.setattr(GitHubProvider, "read_changes", read_changes)


__all__ = ["SyncEngine", "issues", "titles", "writes"]
