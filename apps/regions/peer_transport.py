"""The one place this app sends HTTP to a peer region.

`post_to_peer_region` is a single function so that, once `apps.connectors.transport` exists, it can become a
thin call into that shared transport without touching the replication code. Until then it uses the standard
library and applies the same rule as the transport: private, loopback and link-local addresses are refused
unless `OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 10 * 1024 * 1024


class PeerUnreachable(Exception):
    """The peer region did not accept the request (network error, refused address, or a non-2xx answer)."""


def _refuse_private(host: str, port: int) -> None:
    if settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise PeerUnreachable(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            raise PeerUnreachable(f"{host} resolves to a private address ({address}), which is refused")


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: bytes


def post_to_peer_region(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS
) -> PeerResponse:
    """POST `body` as JSON to a peer region; return its 2xx answer or raise PeerUnreachable."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise PeerUnreachable(f"not an http(s) URL: {url!r}")
    _refuse_private(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return PeerResponse(status=int(response.status), body=response.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode(errors="replace").strip()
        raise PeerUnreachable(
            f"{url} answered {exc.code}: {detail}" if detail else f"{url} answered {exc.code}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise PeerUnreachable(f"{url} is unreachable: {exc}") from None
