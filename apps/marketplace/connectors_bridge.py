"""The marketplace's two seams to the connector framework (apps.connectors), which is not merged yet.

- `outbound_request()` is the marketplace's one door to the outside (app handshakes, registration calls,
  signed webhooks). It refuses private, loopback and link-local destinations unless
  `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on. When apps/connectors/transport.py lands, this function
  becomes a thin wrapper of it.
- `exercise_connector_manifest()` is the pipeline's test of a connector manifest. Today it checks the
  manifest against the marketplace's connector schema; once the framework lands it also runs the manifest's
  resources and actions against the provider sandboxes.
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

from nofx_sdk.rules.egress import is_non_public_address
from nofx_sdk.rules.findings import Finding
from nofx_sdk.rules.manifest import line_of
from nofx_sdk.rules.payloads import CONNECTOR_VALIDATOR, schema_errors

MAX_RESPONSE_BYTES = 1024 * 1024


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


def exercise_connector_manifest(document: Any, *, file: str, text: str = "") -> list[Finding]:
    """Findings (MKT-T001) for a connector manifest. What waits for apps.connectors: loading the manifest
    into the framework and running each resource and action against the provider's sandbox."""
    return [
        Finding(
            "MKT-T001",
            f"{'.'.join(str(p) for p in path) or '(root)'}: {message}",
            file=file,
            line=line_of(text, path) if text else None,
        )
        for path, message in schema_errors(CONNECTOR_VALIDATOR, document)
    ]
