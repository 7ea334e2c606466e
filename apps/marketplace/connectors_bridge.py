"""The marketplace's two seams to the connector framework (apps.connectors), which is not merged yet.

- `outbound_request()` is the marketplace's one door to the outside (app handshakes, registration calls,
  signed webhooks). It refuses private, loopback and link-local destinations unless
  `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on. When apps/connectors/transport.py lands, this function
  becomes a thin wrapper of it.
- `exercise_connector_manifest()` is the pipeline's test of a connector manifest. A manifest in the
  connector framework's format (it has `manifest_version`) is validated by the framework and rehearsed by
  its declarative runner on the responses the publisher recorded beside it (`<entry>.recording.json`, see
  apps/connectors/manifest_rehearsal.py), with no network. A manifest in the marketplace's older
  descriptive format, which the framework cannot run, is checked against the marketplace's schema only.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from nofx_sdk.rules.archive import ReadPackage
from nofx_sdk.rules.egress import is_non_public_address
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


def _resolve(host: str, port: int) -> str:
    """The address to connect to, after refusing non-public ones. Connecting to the address we checked
    (not the name again) means a DNS answer cannot change between the check and the connection."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundFailed(f"cannot resolve {host}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        for address in addresses:
            if is_non_public_address(ipaddress.ip_address(address.split("%")[0])):
                raise OutboundRefused(f"{host} resolves to a private, loopback or link-local address ({address}).")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def outbound_request(
    method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 10.0
) -> OutboundResponse:
    """Send one HTTP request to a developer-supplied URL. Redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"{url!r} is not an http(s) URL.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(parts.hostname, port)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, address, timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request(method, path, body=body, headers={"User-Agent": "nofx-marketplace", **(headers or {})})
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES)
        return OutboundResponse(status=response.status, headers=dict(response.getheaders()), body=data)
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


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


def framework_manifest_findings(document: Any, *, file: str) -> list[Finding]:
    """MKT-T001 for each way a framework-format manifest breaks the framework's schema and rules."""
    from apps.connectors.manifests import validate_manifest

    return [
        Finding("MKT-T001", f"{error.get('field') or '(root)'}: {error['message']}", file=file)
        for error in validate_manifest(document)
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
