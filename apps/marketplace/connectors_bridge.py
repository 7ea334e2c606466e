"""The marketplace's two seams to the connector framework (apps.connectors), which is not merged yet.

- `outbound_request()` is the marketplace's one door to the outside (app handshakes, registration calls,
  signed webhooks): a thin wrapper of `apps.connectors.transport.send_plain_request`, which refuses
  private, loopback and link-local destinations unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on.
- `exercise_connector_manifest()` is the pipeline's test of a connector manifest. Today it checks the
  manifest against the marketplace's connector schema; once the framework lands it also runs the manifest's
  resources and actions against the provider sandboxes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request
from apps.marketplace.rules.findings import Finding
from apps.marketplace.rules.manifest import line_of
from apps.marketplace.rules.payloads import CONNECTOR_VALIDATOR, schema_errors

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
