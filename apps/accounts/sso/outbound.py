"""The identity code's outbound HTTP: an IdP's metadata document, and allauth's OpenID Connect calls.

A thin wrapper of `apps.connectors.transport.send_plain_request`, which refuses private, loopback and
link-local addresses unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on; errors become the
validation errors the SSO settings form shows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request
from apps.core.exceptions import BusinessRuleViolation

METADATA_MAX_BYTES = 2 * 1024 * 1024
METADATA_TIMEOUT_SECONDS = 10


def fetch_idp_metadata(url: str) -> str:
    """GET an identity provider's metadata document (XML text), refusing private addresses and large bodies."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BusinessRuleViolation("The metadata URL must be an http(s) URL.", field="metadata_url")
    try:
        reply = send_plain_request(
            method="GET", url=url, timeout=METADATA_TIMEOUT_SECONDS, max_bytes=METADATA_MAX_BYTES
        )
    except AddressRefused:
        raise BusinessRuleViolation(
            "The metadata URL points at a private or local address.", field="metadata_url", code="private_address"
        ) from None
    except httpx.HTTPError as exc:
        raise BusinessRuleViolation(
            f"The metadata URL could not be read ({type(exc).__name__}).", field="metadata_url"
        ) from None
    if reply.status != 200:
        raise BusinessRuleViolation(f"The metadata URL answered {reply.status}.", field="metadata_url")
    if reply.truncated:
        raise BusinessRuleViolation("The metadata document is too large.", field="metadata_url")
    return reply.body.decode("utf-8", errors="replace")


class DestinationRefused(requests.ConnectionError):
    """The guard refused the address: nothing was sent."""


class TransportAdapter(requests.adapters.BaseAdapter):
    """A `requests` adapter that sends through the guarded transport instead of its own connection pool.

    allauth's OpenID Connect provider (discovery, token exchange, JWKS, userinfo) speaks `requests`; mounted
    on its session, every one of those calls is refused for private addresses like any other outbound call.
    """

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        seconds = max(timeout) if isinstance(timeout, tuple) else timeout
        raw = request.body
        # allauth only ever sends form-encoded bodies, prepared as str or bytes.
        body = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else None
        headers = {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        try:
            reply = send_plain_request(
                method=request.method or "GET",
                url=request.url or "",
                body=body,
                headers=headers,
                timeout=float(seconds or METADATA_TIMEOUT_SECONDS),
                max_bytes=METADATA_MAX_BYTES,
            )
        except AddressRefused as exc:
            raise DestinationRefused(str(exc), request=request) from exc
        except httpx.HTTPError as exc:
            raise requests.ConnectionError(str(exc), request=request) from exc
        response = requests.Response()
        response.status_code = reply.status
        # httpx has already decoded the body, so the encoding header no longer describes it.
        response.headers = CaseInsensitiveDict(
            {k: v for k, v in reply.headers.items() if k.lower() not in ("content-encoding", "content-length")}
        )
        response._content = reply.body
        response.url = request.url or ""
        response.request = request
        response.encoding = get_encoding_from_headers(response.headers)
        response.reason = ""
        return response

    def close(self) -> None:
        pass


def guarded_requests_session(session: requests.Session) -> requests.Session:
    """Route a `requests` session (e.g. allauth's) through the guarded transport."""
    adapter = TransportAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
