"""The one place this app sends HTTP to a peer region.

A thin wrapper of `apps.connectors.transport.send_plain_request` (private, loopback and link-local
addresses are refused unless `OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on), so the replication code only ever
sees `PeerResponse` or `PeerUnreachable`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 10 * 1024 * 1024


class PeerUnreachable(Exception):
    """The peer region did not accept the request (network error, refused address, or a non-2xx answer)."""


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: bytes


def post_to_peer_region(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS
) -> PeerResponse:
    """POST `body` as JSON to a peer region; return its 2xx answer or raise PeerUnreachable."""
    try:
        reply = send_plain_request(
            method="POST",
            url=url,
            body=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
            max_bytes=MAX_RESPONSE_BYTES,
        )
    except AddressRefused as exc:
        raise PeerUnreachable(f"{url} is refused as a private address: {exc}") from None
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"{url} is unreachable: {exc}") from None
    if not 200 <= reply.status < 300:
        detail = reply.body[:2000].decode(errors="replace").strip()
        raise PeerUnreachable(
            f"{url} answered {reply.status}: {detail}" if detail else f"{url} answered {reply.status}"
        )
    return PeerResponse(status=reply.status, body=reply.body)
