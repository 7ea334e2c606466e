"""Wiring for the gateway's tests: a client of the organization and keys for it."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

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
