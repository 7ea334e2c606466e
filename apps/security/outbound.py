"""The security app's only door to the outside: fetching threat feeds and delivering alert webhooks.

A thin wrapper of `apps.connectors.transport.send_plain_request`, which refuses private, loopback,
link-local and reserved addresses unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on. On top of it,
plain http is only for local sandboxes, and a response larger than the cap is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request

MAX_RESPONSE_BYTES = 20 * 1024 * 1024


class OutboundRefused(Exception):
    """The URL may not be fetched (scheme, private address, size) or the fetch failed."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes


def send_outbound_request(
    *, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 15
) -> OutboundResponse:
    """Send one HTTP request to a URL someone configured, through the guarded transport."""
    scheme = urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise OutboundRefused(f"Only http(s) URLs can be fetched, not {scheme!r}.")
    if scheme == "http" and not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        raise OutboundRefused("Plain http is only allowed for local sandboxes; use https.")
    try:
        reply = send_plain_request(
            method=method, url=url, body=body, headers=headers, timeout=timeout, max_bytes=MAX_RESPONSE_BYTES
        )
    except AddressRefused as exc:
        raise OutboundRefused(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise OutboundRefused(f"Could not reach {url}: {exc}") from exc
    if reply.truncated:
        raise OutboundRefused(f"The response from {url} is larger than {MAX_RESPONSE_BYTES} bytes.")
    return OutboundResponse(status=reply.status, body=reply.body)
