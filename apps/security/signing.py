"""Signed internal calls: region to region, our webhooks to extensions, security alerts to customers.

The signature is `X-NOFX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. A receiver
recomputes it with the shared secret and refuses a stale timestamp, which stops replays of captured
calls. Several `v1=` values may be sent while a secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.http import HttpRequest

SIGNATURE_HEADER = "X-NOFX-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The call is not signed, signed with another secret, or too old."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value to send with `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute_signature(secret, ts, body)}"


def verify(
    secrets: list[str], header: str, body: bytes, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: int | None = None
) -> None:
    """Raise SignatureError unless `header` signs `body` with one of `secrets` within the time window."""
    if not header:
        raise SignatureError("The call is not signed.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("The signature header is malformed.")
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("The signature is too old (or from the future); replays are refused.")
    for secret in secrets:
        expected = compute_signature(secret, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise SignatureError("The signature does not match.")


def verify_request(request: HttpRequest, secrets: list[str], *, tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless the Django request carries a valid signature of its body.

    For receivers of internal calls (region replication, extension callbacks): call it before parsing.
    """
    verify(secrets, request.headers.get(SIGNATURE_HEADER, ""), request.body, tolerance=tolerance)
