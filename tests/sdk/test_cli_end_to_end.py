"""The SDK as a developer gets it, against the running platform: init -> validate -> test -> publish -> the
version is published -> a customer installs it through the API.

The CLI runs from a clean virtual environment that has only the SDK installed from sdk/ (`make sdk-venv`,
which `make test` builds first; this module builds it too when it is missing). The platform runs on a live
server over its own test database, with the pipeline's Celery tasks eager. Sign-in is the real OAuth2
authorization-code + PKCE flow with the CLI's loopback redirect.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from django.conf import settings
from django.test import Client

from apps.accounts.roles import Role
from apps.accounts.services import register_oauth_app
from apps.gateway import services as gateway
from apps.marketplace.models import Extension, Installation, InstallationStatus, VersionStatus
from nofx_sdk.cli import main
from nofx_sdk.client import NofxClient
from tests.factories.gateway import ApiClientFactory
from tests.factories.marketplace import PublisherFactory

SDK_VENV = Path(settings.BASE_DIR) / "var" / "sdk-venv"
NOFX = SDK_VENV / "bin" / "nofx"


@pytest.fixture(scope="module")
def nofx_cli() -> Path:
    """The `nofx` of the clean SDK environment; `make sdk-venv` rebuilds it only when the SDK changed."""
    subprocess.run(["make", "sdk-venv"], cwd=settings.BASE_DIR, check=True, capture_output=True, timeout=600)
    return NOFX


def _run(cli: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _cli_app(organization: Any, owner: Any) -> str:
    """The CLI's OAuth2 app, registered by the organization as a native app (a public client: no secret)."""
    registration, _secret = register_oauth_app(
        organization=organization,
        actor=owner,
        name="nofx CLI",
        kind="native",
        scopes=["extensions:read", "extensions:write"],
    )
    return str(registration.application.client_id)


def _sign_in_through_the_browser(
    cli: Path, live_server: Any, developer: Any, client_id: str, env: dict[str, str], cwd: Path
) -> dict[str, Any]:
    """Run `nofx login` and play the browser: follow its sign-in address with the developer's session."""
    process = subprocess.Popen(
        [str(cli), "login", "--base-url", live_server.url, "--client-id", client_id, "--no-browser", "--json"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    url = ""
    while not url:
        line = process.stderr.readline()
        assert line, "nofx login exited before printing the sign-in address"
        if line.startswith(live_server.url):
            url = line.strip()
    browser = Client()
    browser.force_login(developer)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    with httpx.Client(cookies={settings.SESSION_COOKIE_NAME: session}, follow_redirects=False, timeout=30) as http:
        consent = http.get(url)
        assert consent.status_code == 200, consent.text[:500]
        # The person approves the app on the consent page (a public client is never approved silently).
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', consent.text)
        assert token is not None, consent.text[:500]
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
        answer = http.post(
            f"{live_server.url}/o/authorize/",
            data={**fields, "csrfmiddlewaretoken": token.group(1), "allow": "Authorize"},
            headers={"Referer": url},
        )
        assert answer.status_code == 302, answer.text[:500]
        redirect = answer.headers["Location"]
        assert redirect.startswith("http://127.0.0.1:"), redirect
        http.get(redirect)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return dict(json.loads(stdout))


@pytest.mark.django_db(transaction=True)
def test_a_developer_builds_publishes_and_a_customer_installs_a_connector_with_the_cli(
    live_server, organization, make_member, nofx_cli, tmp_path, settings
):
    # given a developer of a publisher, signed in to the CLI through OAuth2 + PKCE
    settings.MEDIA_ROOT = str(tmp_path / "media")
    developer = make_member(organization, Role.DEVELOPER)
    PublisherFactory(organization=organization, slug="acme", name="Acme")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOFX_CONFIG_DIR": str(tmp_path / "config")}
    client_id = _cli_app(organization, make_member(organization, Role.OWNER))
    login = _sign_in_through_the_browser(nofx_cli, live_server, developer, client_id, env, tmp_path)
    assert login["ok"] is True
    assert set(login["scope"].split()) == {"extensions:read", "extensions:write"}

    # when the developer creates, validates, tests and publishes a connector
    init = _run(
        nofx_cli, "ext", "init", "connector", "tickets", "--id", "acme.tickets", "--json", cwd=tmp_path, env=env
    )
    validate = _run(nofx_cli, "ext", "validate", "tickets", "--json", cwd=tmp_path, env=env)
    tested = _run(nofx_cli, "ext", "test", "tickets", "--json", cwd=tmp_path, env=env)
    published = _run(nofx_cli, "ext", "publish", "tickets", "--interval", "0.2", "--json", cwd=tmp_path, env=env)
    listed = _run(nofx_cli, "ext", "versions", "acme.tickets", "--json", cwd=tmp_path, env=env)

    # then every step succeeded and the version went through the whole pipeline to published
    assert init.returncode == 0, init.stderr
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert json.loads(validate.stdout)["ok"] is True
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert [c["ok"] for c in json.loads(tested.stdout)["checks"]] == [True]
    assert published.returncode == 0, published.stdout + published.stderr
    version = json.loads(published.stdout)["version"]
    assert version["status"] == VersionStatus.PUBLISHED
    assert [version["steps"][step]["status"] for step in ("validate", "scan", "test")] == ["passed"] * 3
    assert [(v["version"], v["status"]) for v in json.loads(listed.stdout)["versions"]] == [("0.1.0", "published")]
    assert Extension.objects.get(slug="acme.tickets").latest_version is not None

    # when a customer signs in the same way and installs it through the API, with the SDK's client
    customer = make_member(organization, Role.ADMIN)
    customer_env = {**env, "NOFX_CONFIG_DIR": str(tmp_path / "customer-config")}
    _sign_in_through_the_browser(nofx_cli, live_server, customer, client_id, customer_env, tmp_path)
    token = json.loads((tmp_path / "customer-config" / "credentials.json").read_text())["token"]
    with NofxClient(live_server.url, token) as api:
        consent = api.consent("acme.tickets")
        installation = api.install(
            "acme.tickets", accepted_permissions=consent["permissions"], config={"apiKey": "k-123"}
        )

    # then the organization has it installed, at the published version
    assert installation["extension"] == "acme.tickets"
    assert installation["version"] == "0.1.0"
    assert Installation.objects.get(pk=installation["id"]).status == InstallationStatus.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_a_gateway_api_key_without_the_extensions_scopes_is_refused_with_exit_code_3(
    live_server, organization, tmp_path
):
    # given an API client's key that may run connectors but not touch extensions
    PublisherFactory(organization=organization, slug="acme")
    api_client = ApiClientFactory(organization=organization, allowed_scopes=["connectors:read", "connectors:execute"])
    _key, token = gateway.issue_api_key(client=api_client, actor=None, name="ci")
    env = {"NOFX_BASE_URL": live_server.url, "NOFX_TOKEN": token, "NOFX_CONFIG_DIR": str(tmp_path)}

    # when
    result = CliRunner().invoke(main, ["ext", "versions", "acme.tickets", "--json"], env=env)

    # then
    assert result.exit_code == 3
    assert "HTTP 403" in json.loads(result.stdout)["error"]


@pytest.mark.django_db(transaction=True)
def test_a_ci_key_holding_the_extensions_scopes_publishes_with_the_cli(
    live_server, organization, tmp_path, settings, monkeypatch
):
    # given a publisher's API client for its CI, with the extensions scopes
    settings.MEDIA_ROOT = str(tmp_path / "media")
    PublisherFactory(organization=organization, slug="acme")
    api_client = ApiClientFactory(organization=organization, allowed_scopes=["extensions:read", "extensions:write"])
    _key, token = gateway.issue_api_key(client=api_client, actor=None, name="ci")
    env = {"NOFX_BASE_URL": live_server.url, "NOFX_TOKEN": token, "NOFX_CONFIG_DIR": str(tmp_path / "config")}
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    runner.invoke(main, ["ext", "init", "connector", "tickets", "--id", "acme.tickets", "--json"], env=env)

    # when
    result = runner.invoke(main, ["ext", "publish", "tickets", "--interval", "0.2", "--json"], env=env)

    # then the version went through the pipeline to published
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["version"]["status"] == VersionStatus.PUBLISHED
