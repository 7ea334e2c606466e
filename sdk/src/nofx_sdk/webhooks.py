"""Signed webhooks, as the platform sends them to installed agent and analytics apps.

Header `Nofx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`, where the secret is
the installation's webhook secret. Verify over the raw body bytes, before parsing them, and refuse stale
timestamps so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "Nofx-Signature"
EVENT_HEADER = "Nofx-Event"
DELIVERY_HEADER = "Nofx-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The delivery is not from the platform (bad or missing signature) or is too old."""


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_headers(secret: str, body: bytes, now: int | None = None) -> dict[str, str]:
    """The signature header the platform puts on a delivery of `body` (the fake platform uses it too)."""
    timestamp = int(now if now is not None else time.time())
    return {SIGNATURE_HEADER: f"t={timestamp},v1={sign_payload(secret, body, timestamp)}"}


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: int | None = None
) -> bool:
    """True when `header` is a valid, fresh signature of `body` under `secret`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    current = int(now if now is not None else time.time())
    if abs(current - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign_payload(secret, body, timestamp), parts.get("v1", ""))


def verified_event(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> dict[str, Any]:
    """The delivery's JSON payload once its signature checks out; raises WebhookVerificationError otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not header:
        raise WebhookVerificationError(f"The {SIGNATURE_HEADER} header is missing.")
    if not verify_signature(secret, body, header, tolerance_seconds=tolerance_seconds, now=now):
        raise WebhookVerificationError("The signature does not match, or the delivery is too old.")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookVerificationError("The body is not a JSON object.")
    return payload
