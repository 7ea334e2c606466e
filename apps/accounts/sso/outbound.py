"""The identity code's one outbound HTTP call: fetching an IdP's metadata document from its URL.

It refuses private, loopback and link-local addresses unless `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES`
is on. When apps/connectors/transport.py exists, this function should delegate to it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

from apps.core.exceptions import BusinessRuleViolation

METADATA_MAX_BYTES = 2 * 1024 * 1024
METADATA_TIMEOUT_SECONDS = 10


def _refuse_private(host: str, port: int) -> None:
    if settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise BusinessRuleViolation("The metadata URL's host does not resolve.", field="metadata_url") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise BusinessRuleViolation(
                "The metadata URL points at a private or local address.", field="metadata_url", code="private_address"
            )


def fetch_idp_metadata(url: str) -> str:
    """GET an identity provider's metadata document (XML text), refusing private addresses and large bodies."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BusinessRuleViolation("The metadata URL must be an http(s) URL.", field="metadata_url")
    _refuse_private(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    try:
        response = requests.get(url, timeout=METADATA_TIMEOUT_SECONDS, allow_redirects=False, stream=True)
        body = response.raw.read(METADATA_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise BusinessRuleViolation(
            f"The metadata URL could not be read ({type(exc).__name__}).", field="metadata_url"
        ) from None
    if response.status_code != 200:
        raise BusinessRuleViolation(f"The metadata URL answered {response.status_code}.", field="metadata_url")
    if len(body) > METADATA_MAX_BYTES:
        raise BusinessRuleViolation("The metadata document is too large.", field="metadata_url")
    return bytes(body).decode("utf-8", errors="replace")
