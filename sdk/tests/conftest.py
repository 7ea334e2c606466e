"""Shared wiring of the SDK's tests. They run in a clean environment with only the SDK installed (no Django);
the repository around sdk/ provides the committed OpenAPI schema and the developer docs they check against."""

from __future__ import annotations

from pathlib import Path

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPOSITORY = SDK_DIR.parent


@pytest.fixture
def repository() -> Path:
    return REPOSITORY


@pytest.fixture
def examples_dir() -> Path:
    return SDK_DIR / "examples"
