from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import Organization, User
from apps.accounts.roles import Role
from apps.marketplace.models import Publisher
from tests.factories.marketplace import PublisherFactory


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def publisher(organization: Organization) -> Publisher:
    return PublisherFactory(organization=organization, slug="acme", name="Acme")


@pytest.fixture
def developer(organization: Organization, make_member: Any) -> User:
    return make_member(organization, Role.DEVELOPER)


@pytest.fixture
def developer_browser(developer: User) -> Client:
    """A signed-in developer of the organization, as a browser would be."""
    client = Client()
    client.force_login(developer)
    return client


@pytest.fixture
def viewer_browser(viewer: User) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run on-commit callbacks (the pipeline chain runs eagerly in tests) as the block exits."""

    def runner() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return runner
