"""The `nofx` pytest plugin (registered through the `pytest11` entry point): fixtures that stand in for the
platform so extension authors test without our servers.

- `nofx_platform`: a running `FakePlatform` (API stub on loopback; uploads run the platform's static rules).
- `nofx_installation`: an installation of the extension under test, with its install token and webhook secret.
- `nofx_webhook_sender`: `send(url, event, data)` delivers a webhook signed with that installation's secret.
- `nofx_cli_env`: environment variables that point the `nofx` CLI at the fake platform, signed in.
- `nofx_connector_runner`: `run(directory, recordings=None)` runs a connector extension's resources and
  actions against recorded responses (default `tests/recordings.json`) and returns the results.

Fixture names start with `nofx_` so they never shadow a project's own fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nofx_sdk.connector_runner import CheckResult, RecordedResponses, run_connector
from nofx_sdk.packaging import manifest_path
from nofx_sdk.rules.manifest import load_manifest_document
from nofx_sdk.testing.fake_platform import FakeInstallation, FakePlatform


@pytest.fixture
def nofx_platform() -> Iterator[FakePlatform]:
    platform = FakePlatform().start()
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture
def nofx_installation(nofx_platform: FakePlatform) -> FakeInstallation:
    return nofx_platform.install("local.extension-under-test")


@pytest.fixture
def nofx_webhook_sender(
    nofx_platform: FakePlatform, nofx_installation: FakeInstallation
) -> Callable[..., httpx.Response]:
    def send(url: str, event: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return nofx_platform.send_webhook(url, nofx_installation, event, data)

    return send


@pytest.fixture
def nofx_cli_env(nofx_platform: FakePlatform, tmp_path: Path) -> dict[str, str]:
    return {
        "NOFX_BASE_URL": nofx_platform.url,
        "NOFX_TOKEN": nofx_platform.token,
        "NOFX_CONFIG_DIR": str(tmp_path / "nofx-config"),
    }


def run_connector_extension(directory: Path, recordings: Path | None = None) -> list[CheckResult]:
    """Run a connector extension's manifest (its entryPoint) against recorded responses."""
    manifest_file = manifest_path(directory)
    manifest = load_manifest_document(manifest_file.read_text(), manifest_file.name)
    connector = json.loads((directory / manifest["entryPoint"]).read_text())
    recorded = json.loads((recordings or directory / "tests" / "recordings.json").read_text())
    return run_connector(connector, RecordedResponses(recorded))


@pytest.fixture
def nofx_connector_runner() -> Callable[..., list[CheckResult]]:
    return run_connector_extension
