"""The marketplace's two seams to the connector framework (apps.connectors).

- `outbound_request()` is the marketplace's one door to the outside (app handshakes, registration calls,
  signed webhooks): a thin wrapper of `apps.connectors.transport.send_plain_request`, which refuses
  private, loopback and link-local destinations unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on.
- `exercise_connector_manifest()` is the pipeline's test of a connector manifest. A manifest in the
  connector framework's format (it has `manifest_version`) is validated by the framework and rehearsed by
  its declarative runner on the responses the publisher recorded beside it (`<entry>.recording.json`, see
  apps/connectors/manifest_rehearsal.py), with no network. A manifest in the marketplace's older
  descriptive format, which the framework cannot run, is checked against the marketplace's schema only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request
from nofx_sdk.rules.archive import ReadPackage
from nofx_sdk.rules.checks import framework_manifest_findings
from nofx_sdk.rules.findings import Finding
from nofx_sdk.rules.manifest import line_of
from nofx_sdk.rules.payloads import CONNECTOR_VALIDATOR, schema_errors

MAX_RESPONSE_BYTES = 1024 * 1024
# Recorded vendor responses are samples, not data dumps.
MAX_RECORDING_BYTES = 1024 * 1024


class OutboundRefused(Exception):
    """The destination is not allowed (private address, bad scheme) - nothing was sent."""


class OutboundFailed(Exception):
    """The request was allowed but did not complete (connection refused, timeout, TLS error)."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def outbound_request(
    method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 10.0
) -> OutboundResponse:
    """Send one HTTP request to a developer-supplied URL. Redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"{url!r} is not an http(s) URL.")
    try:
        reply = send_plain_request(
            method=method,
            url=url,
            body=body,
            headers={"User-Agent": "nofx-marketplace", **(headers or {})},
            timeout=timeout,
            max_bytes=MAX_RESPONSE_BYTES,
        )
    except AddressRefused as exc:
        raise OutboundRefused(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise OutboundFailed(f"{type(exc).__name__}: {exc}") from exc
    return OutboundResponse(status=reply.status, headers=reply.headers, body=reply.body)


def recording_name(entry_point: str) -> str:
    """Where a connector manifest's recorded responses live in the package: `connector.json` ->
    `connector.recording.json`."""
    stem = entry_point.rsplit(".", 1)[0] if "." in entry_point.rsplit("/", 1)[-1] else entry_point
    return f"{stem}.recording.json"


def _schema_findings(document: Any, *, file: str, text: str) -> list[Finding]:
    return [
        Finding(
            "MKT-T001",
            f"{'.'.join(str(p) for p in path) or '(root)'}: {message}",
            file=file,
            line=line_of(text, path) if text else None,
        )
        for path, message in schema_errors(CONNECTOR_VALIDATOR, document)
    ]


def exercise_connector_manifest(
    document: Any, *, file: str, text: str = "", package: ReadPackage | None = None
) -> list[Finding]:
    """Findings (MKT-T001) for a connector manifest: its schema, and for the framework's format, a rehearsal
    on the publisher's recorded responses in `package` (a missing or broken recording is a finding too)."""
    if not (isinstance(document, dict) and "manifest_version" in document):
        return _schema_findings(document, file=file, text=text)
    findings = framework_manifest_findings(document, file=file)
    if findings:
        return findings
    name = recording_name(file)
    raw = package.read(name, MAX_RECORDING_BYTES) if package is not None and name in package.names() else None
    if raw is None:
        return [
            Finding(
                "MKT-T001",
                f"No recorded responses to test the connector on: add {name} (at most {MAX_RECORDING_BYTES} "
                "bytes) with the settings, credentials and vendor responses the manifest's requests get.",
                file=file,
            )
        ]
    try:
        recording = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Finding("MKT-T001", f"The recording is not JSON: {exc}", file=name)]
    from apps.connectors.manifest_rehearsal import rehearse_manifest

    return [
        Finding("MKT-T001", f"{problem.where}: {problem.message}", file=name if "recording" in problem.where else file)
        for problem in rehearse_manifest(document=document, recording=recording)
    ]
