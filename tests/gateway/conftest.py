"""Wiring for the gateway's tests: a client of the organization and keys for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.connectors.models import Connector
from apps.connectors.sandboxes import github as github_module
from apps.connectors.sandboxes.github import GitHubSandbox
from apps.connectors.services import create_connector
from apps.gateway import services
from apps.gateway.models import ApiClient, Plan
from apps.gateway.scopes import SCOPES
from tests.factories.gateway import ApiClientFactory, PlanFactory


@pytest.fixture
def roomy_plan(db: None) -> Plan:
    """A plan no test hits by accident."""
    return PlanFactory(rate_per_minute=60_000, burst=1_000)


@pytest.fixture
def gateway_client(organization: Any, roomy_plan: Plan) -> ApiClient:
    return ApiClientFactory(organization=organization, plan=roomy_plan, allowed_scopes=list(SCOPES))


@pytest.fixture
def issue_key() -> Any:
    """Mint a key for a client through the service; returns (key, token)."""

    def issue(client: ApiClient, **kwargs: Any) -> tuple[Any, str]:
        kwargs.setdefault("name", "test key")
        return services.issue_api_key(client=client, actor=None, **kwargs)

    return issue


@pytest.fixture
def key_token(gateway_client: ApiClient, issue_key: Any) -> str:
    return issue_key(gateway_client)[1]


@pytest.fixture
def machine() -> Any:
    """An HTTP client presenting a token as `Authorization: Bearer ...`."""

    def make(token: str, **headers: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
        return client

    return make


@pytest.fixture(scope="session")
def github_sandbox() -> Iterator[GitHubSandbox]:
    """The GitHub sandbox on a free loopback port, once per test process."""
    sandbox = GitHubSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def github_connector(organization: Any, github_sandbox: GitHubSandbox, settings: Any) -> Connector:
    """A connector of the organization pointed at the emptied sandbox, with issue #1 to comment on."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    github_sandbox.reset()
    github_sandbox.add_issue("Gateway subject")
    return create_connector(
        organization=organization,
        actor=None,
        name="GitHub",
        provider="github",
        base_url=github_sandbox.url,
        settings_={"owner": github_module.OWNER, "repo": github_module.REPO},
        credentials={"token": github_module.TOKEN},
    )
