"""The security app's only door to the outside: fetching threat feeds and delivering alert webhooks.

When `apps/connectors/transport.py` exists, `send_outbound_request` is the one function to point at it;
until then it applies the same rule the transport will: refuse private, loopback, link-local and reserved
addresses unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_RESPONSE_BYTES = 20 * 1024 * 1024


class OutboundRefused(Exception):
    """The URL may not be fetched (scheme, private address, size) or the fetch failed."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes


def _check_destination(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise OutboundRefused(f"Only http(s) URLs can be fetched, not {parts.scheme!r}.")
    if parts.scheme == "http" and not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        raise OutboundRefused("Plain http is only allowed for local sandboxes; use https.")
    host = parts.hostname or ""
    if not host:
        raise OutboundRefused("The URL has no host.")
    if settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise OutboundRefused(f"{host} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise OutboundRefused(f"{host} resolves to a private or reserved address ({address}); refused.")


def send_outbound_request(
    *, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 15
) -> OutboundResponse:
    """Send one HTTP request to a URL someone configured, after the private-address check."""
    _check_destination(url)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = response.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
    except urllib.error.HTTPError as exc:
        return OutboundResponse(status=exc.code, body=exc.read(65536))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OutboundRefused(f"Could not reach {url}: {exc}") from exc
    if len(data) > MAX_RESPONSE_BYTES:
        raise OutboundRefused(f"The response from {url} is larger than {MAX_RESPONSE_BYTES} bytes.")
    return OutboundResponse(status=status, body=data)
