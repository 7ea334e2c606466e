"""The `nofx` command.

Exit codes (stable, for CI): 0 success; 1 the package has blocking findings, a test failed or the pipeline
rejected the version; 2 usage error; 3 not signed in or the API refused; 4 gave up waiting for the pipeline.
Every command that reports takes `--json` and then prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from nofx_sdk import __version__, auth, checking
from nofx_sdk.client import ApiError, NofxClient
from nofx_sdk.connector_runner import CheckResult, RecordedResponses, Sandbox, run_connector
from nofx_sdk.packaging import NotAnExtension, manifest_path, pack_directory, package_bytes
from nofx_sdk.rules import Finding, PackageContext
from nofx_sdk.rules.manifest import ManifestSyntaxError, load_manifest_document
from nofx_sdk.scaffold import EXTENSION_TYPES, ScaffoldError, create_extension

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_API = 3
EXIT_TIMEOUT = 4

# Statuses after which the pipeline does nothing more on its own.
FINAL_STATUSES = frozenset({"passed", "published", "rejected", "quarantined", "yanked"})
PIPELINE_STEPS = ("validate", "scan", "test", "certify")

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for CI).")
path_argument = click.argument(
    "path", required=False, default=".", type=click.Path(exists=True, file_okay=True, path_type=Path)
)


def _emit(as_json: bool, document: Any, text: str) -> None:
    click.echo(json.dumps(document, indent=2, default=str) if as_json else text)


def _fail(code: int, message: str, as_json: bool = False, **extra: Any) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, **extra}, indent=2, default=str))
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _client(as_json: bool) -> NofxClient:
    credentials = auth.load_credentials()
    if credentials is None:
        _fail(EXIT_API, "Not signed in: run `nofx login` (or set NOFX_TOKEN and NOFX_BASE_URL).", as_json)
    return NofxClient(credentials.base_url, credentials.token)


def _finding_lines(findings: Sequence[Finding]) -> str:
    return "\n".join(f"  {f.severity.upper():7} {f}" for f in findings)


def _manifest_document(directory: Path) -> dict[str, Any]:
    path = manifest_path(directory)
    document = load_manifest_document(path.read_text(), path.name)
    if not isinstance(document, dict):
        raise ManifestSyntaxError("The manifest is not an object.", None)
    return document


@click.group()
@click.version_option(__version__, prog_name="nofx")
def main() -> None:
    """Build, check, test and publish NOFX marketplace extensions."""


# -- login ------------------------------------------------------------------------------------------------


@main.command()
@click.option("--base-url", default=auth.DEFAULT_BASE_URL, show_default=True, help="The platform's address.")
@click.option(
    "--api-key",
    "--token",
    "api_key",
    help="Store a bearer token you already have, e.g. an OAuth access token (`-` reads it from stdin).",
)
@click.option("--client-id", help="OAuth2 client id of your organization's CLI app (PKCE with a loopback redirect).")
@click.option(
    "--client-secret",
    envvar="NOFX_CLIENT_SECRET",
    help="Only for an app registered as confidential (a public client, the usual CLI app, has none).",
)
@click.option("--scope", "scopes", multiple=True, default=auth.DEFAULT_SCOPES, show_default=True)
@click.option("--no-browser", is_flag=True, help="Print the sign-in address instead of opening a browser.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the browser sign-in.")
@json_option
def login(
    base_url: str,
    api_key: str | None,
    client_id: str | None,
    client_secret: str | None,
    scopes: tuple[str, ...],
    no_browser: bool,
    timeout: int,
    as_json: bool,
) -> None:
    """Sign in with an API key, or in the browser through OAuth2 (authorization code + PKCE)."""
    if bool(api_key) == bool(client_id):
        _fail(EXIT_USAGE, "Give either --api-key or --client-id.", as_json)
    if api_key:
        token = sys.stdin.readline().strip() if api_key == "-" else api_key
        path = auth.save_credentials(auth.Credentials(base_url=base_url, token=token, kind="api_key"))
        _emit(as_json, {"ok": True, "base_url": base_url, "kind": "api_key"}, f"Saved your API key to {path}.")
        return
    assert client_id is not None
    verifier, challenge = auth.pkce_pair()
    state = secrets.token_urlsafe(16)
    loopback = auth.start_loopback()
    try:
        url = auth.authorization_url(
            base_url,
            client_id=client_id,
            redirect_uri=loopback.redirect_uri,
            challenge=challenge,
            state=state,
            scopes=scopes,
        )
        # On stderr so `--json` keeps stdout to the one document; a test or a person follows it.
        click.echo(f"Open this address to sign in:\n{url}", err=True)
        if not no_browser:
            webbrowser.open(url)
        code = auth.check_redirect(loopback.wait(timeout), state)
        tokens = auth.exchange_code(
            base_url,
            client_id=client_id,
            code=code,
            redirect_uri=loopback.redirect_uri,
            verifier=verifier,
            client_secret=client_secret,
        )
    except auth.OAuthError as exc:
        _fail(EXIT_API, str(exc), as_json)
    finally:
        loopback.close()
    path = auth.save_credentials(
        auth.Credentials(
            base_url=base_url,
            token=tokens["access_token"],
            kind="oauth",
            refresh_token=tokens.get("refresh_token"),
            client_id=client_id,
        )
    )
    _emit(
        as_json,
        {"ok": True, "base_url": base_url, "kind": "oauth", "scope": tokens.get("scope", "")},
        f"Signed in; token saved to {path}.",
    )


# -- ext ---------------------------------------------------------------------------------------------------


@main.group()
def ext() -> None:
    """Work on an extension: init, validate, test, dev, pack, publish, versions, yank."""


@ext.command()
@click.argument("ext_type", metavar="TYPE", type=click.Choice(EXTENSION_TYPES))
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--id", "ext_id", required=True, help="publisher.extension-name, e.g. acme.tickets.")
@click.option("--name", help="The display name (defaults to one made from the id).")
@json_option
def init(ext_type: str, directory: Path | None, ext_id: str, name: str | None, as_json: bool) -> None:
    """Create a new extension of TYPE in DIRECTORY (default: a directory named after the id)."""
    target = directory or Path(ext_id.split(".", 1)[-1])
    try:
        written = create_extension(target, ext_type, ext_id, name)
    except ScaffoldError as exc:
        _fail(EXIT_USAGE, str(exc), as_json)
    files = [str(p.relative_to(target)) for p in written]
    _emit(
        as_json,
        {"ok": True, "directory": str(target), "files": files},
        f"Created a {ext_type} extension in {target}:\n" + "\n".join(f"  {f}" for f in files),
    )


@ext.command()
@path_argument
@click.option("--allow-private-addresses", is_flag=True, help="Accept loopback/private egress (local sandboxes).")
@json_option
def validate(path: Path, allow_private_addresses: bool, as_json: bool) -> None:
    """Run the platform's validate and scan rules on a directory or a packed zip."""
    try:
        data = package_bytes(path)
    except NotAnExtension as exc:
        _fail(EXIT_USAGE, str(exc), as_json)
    findings = checking.validate_and_scan(data, PackageContext(allow_private_addresses=allow_private_addresses))
    blocking = checking.blocking(findings)
    document = {"ok": not blocking, "findings": [f.as_dict() for f in findings]}
    summary = "Valid: no blocking findings." if not blocking else f"{len(blocking)} blocking finding(s)."
    _emit(as_json, document, "\n".join(filter(None, [_finding_lines(findings), summary])))
    sys.exit(EXIT_OK if not blocking else EXIT_FAILED)


def _load_recordings(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise click.BadParameter("recordings must be a JSON object keyed by 'METHOD /path'")
    return document


@ext.command(name="test")
@path_argument
@click.option(
    "--recordings",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recorded responses (default: tests/recordings.json in the extension).",
)
@click.option("--sandbox", help="Run the connector against this sandbox base URL instead of recordings.")
@json_option
def test_command(path: Path, recordings: Path | None, sandbox: str | None, as_json: bool) -> None:
    """Check the connector manifest or workflow definition, and run a connector's resources and actions."""
    try:
        data = package_bytes(path)
    except NotAnExtension as exc:
        _fail(EXIT_USAGE, str(exc), as_json)
    findings = checking.payload_findings(data)
    results: list[CheckResult] = []
    if path.is_dir() and not checking.blocking(findings):
        document = _manifest_document(path)
        entry = document.get("entryPoint")
        if document.get("type") == "connector" and isinstance(entry, str):
            connector = json.loads((path / entry).read_text())
            recorded = recordings or (path / "tests" / "recordings.json")
            if sandbox:
                results = run_connector(connector, Sandbox(sandbox))
            elif recorded.is_file():
                results = run_connector(connector, RecordedResponses(_load_recordings(recorded)))
            else:
                _fail(EXIT_USAGE, "A connector test needs --sandbox or recorded responses (tests/recordings.json).")
    failed = bool(checking.blocking(findings)) or any(not r.ok for r in results)
    document_out = {
        "ok": not failed,
        "findings": [f.as_dict() for f in findings],
        "checks": [r.as_dict() for r in results],
    }
    lines = [_finding_lines(findings)] if findings else []
    for result in results:
        lines.append(f"  {'PASS' if result.ok else 'FAIL'} {result.name}: {'; '.join(result.messages)}")
    lines.append("All tests passed." if not failed else "Tests failed.")
    _emit(as_json, document_out, "\n".join(lines))
    sys.exit(EXIT_OK if not failed else EXIT_FAILED)


@ext.command()
@path_argument
@click.option("--port", default=8765, show_default=True, help="Loopback port of the webhook endpoint.")
@click.option("--secret", default="dev-webhook-secret", show_default=True, help="The webhook secret to verify with.")
@click.option("--replay/--no-replay", default=True, show_default=True, help="Send tests/sample-events.json on start.")
@click.option("--once", is_flag=True, help="Validate, replay the samples and exit (for CI).")
@json_option
def dev(path: Path, port: int, secret: str, replay: bool, once: bool, as_json: bool) -> None:
    """Local development server: re-validates on every change, serves the app's webhook endpoint with
    signature verification, and replays sample events to it."""
    from nofx_sdk.devserver import DevServer

    server = DevServer(path, port=port, secret=secret, echo=lambda line: click.echo(line, err=as_json))
    report = server.run(replay=replay, once=once)
    if once:
        _emit(as_json, report, f"Replayed {len(report['deliveries'])} event(s); valid: {report['ok']}.")
        sys.exit(EXIT_OK if report["ok"] else EXIT_FAILED)


@ext.command()
@path_argument
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: dist/<id>-<version>.zip"
)
@json_option
def pack(path: Path, output: Path | None, as_json: bool) -> None:
    """Pack the extension into the zip the platform accepts."""
    try:
        data = pack_directory(path)
        document = _manifest_document(path)
    except (NotAnExtension, ManifestSyntaxError) as exc:
        _fail(EXIT_USAGE, str(exc), as_json)
    target = output or path / "dist" / f"{document.get('id')}-{document.get('version')}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    _emit(
        as_json,
        {"ok": True, "path": str(target), "bytes": len(data), "sha256": digest},
        f"Packed {target} ({len(data)} bytes, sha256 {digest}).",
    )


def _step_line(version: dict[str, Any]) -> str:
    steps = version.get("steps") or {}
    parts = [f"{name}: {(steps.get(name) or {}).get('status', '-')}" for name in PIPELINE_STEPS if name in steps]
    return f"[{version.get('status')}] " + ", ".join(parts)


@ext.command()
@path_argument
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the pipeline until it finishes.")
@click.option("--auto-publish/--no-auto-publish", default=True, show_default=True, help="Publish once it passes.")
@click.option("--timeout", default=600, show_default=True, help="Seconds to follow the pipeline.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between status checks.")
@json_option
def publish(path: Path, wait: bool, auto_publish: bool, timeout: int, interval: float, as_json: bool) -> None:
    """Upload the extension and follow it through validate, scan, test and certify."""
    try:
        data = package_bytes(path)
    except NotAnExtension as exc:
        _fail(EXIT_USAGE, str(exc), as_json)
    client = _client(as_json)
    try:
        version = client.upload_version(data, filename=f"{path.name or 'package'}.zip", auto_publish=auto_publish)
        if not as_json:
            click.echo(f"Uploaded {version['extension']} {version['version']} (version id {version['id']}).")
        deadline = time.monotonic() + timeout
        last = ""
        while wait and version["status"] not in FINAL_STATUSES:
            line = _step_line(version)
            if line != last and not as_json:
                click.echo(line)
            last = line
            if time.monotonic() > deadline:
                _fail(EXIT_TIMEOUT, f"Still {version['status']} after {timeout}s.", as_json, version=version)
            time.sleep(interval)
            version = client.version(version["id"])
    except ApiError as exc:
        _fail(EXIT_API, exc.describe(), as_json, problem=exc.problem)
    finally:
        client.close()
    findings = version.get("findings") or []
    failed = version["status"] in ("rejected", "quarantined")
    lines = [_step_line(version)]
    lines += [
        f"  {f.get('rule_id')} {f.get('file') or ''}{':' + str(f['line']) if f.get('line') else ''} {f.get('message')}"
        for f in findings
    ]
    if failed:
        lines.append(
            f"The version was {version['status']}: {version.get('status_reason') or 'see the findings above'}."
        )
    else:
        lines.append(f"{version['extension']} {version['version']} is {version['status']}.")
    _emit(as_json, {"ok": not failed, "version": version}, "\n".join(lines))
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@ext.command()
@click.argument("extension_id")
@json_option
def versions(extension_id: str, as_json: bool) -> None:
    """List your extension's versions with their pipeline status."""
    client = _client(as_json)
    try:
        rows = client.versions(extension=extension_id)
    except ApiError as exc:
        _fail(EXIT_API, exc.describe(), as_json, problem=exc.problem)
    finally:
        client.close()
    text = "\n".join(f"{r['version']:12} {r['status']:12} {r['id']}" for r in rows) or "No versions yet."
    _emit(as_json, {"ok": True, "versions": rows}, text)


@ext.command()
@click.argument("extension_id")
@click.argument("version")
@click.option("--reason", required=True, help="Why: customers and operators see it.")
@json_option
def yank(extension_id: str, version: str, reason: str, as_json: bool) -> None:
    """Withdraw a published VERSION of EXTENSION_ID (installations keep running; no new installs get it)."""
    client = _client(as_json)
    try:
        match = [r for r in client.versions(extension=extension_id) if r["version"] == version]
        if not match:
            _fail(EXIT_USAGE, f"{extension_id} has no version {version}.", as_json)
        yanked = client.yank_version(match[0]["id"], reason=reason)
    except ApiError as exc:
        _fail(EXIT_API, exc.describe(), as_json, problem=exc.problem)
    finally:
        client.close()
    _emit(as_json, {"ok": True, "version": yanked}, f"Yanked {extension_id} {version}.")


if __name__ == "__main__":  # pragma: no cover - `python -m nofx_sdk.cli`
    main()
