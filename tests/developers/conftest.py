from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


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
