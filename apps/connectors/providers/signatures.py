"""Webhook signature schemes the vendors use, checked in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from apps.connectors.errors import WebhookRejected


def require_secret(secret: str | None) -> str:
    if not secret:
        raise WebhookRejected("not_configured", "No webhook secret is configured for this connector.")
    return secret


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def check_hex_hmac(*, secret: str, message: bytes, presented: str, prefix: str = "sha256=") -> None:
    """`<prefix><hex HMAC-SHA256>` (GitHub's X-Hub-Signature-256, Jira's X-Hub-Signature)."""
    if not presented:
        raise WebhookRejected("missing_signature", "The delivery carries no signature.")
    expected = prefix + hmac_sha256(secret.encode(), message).hex()
    if not hmac.compare_digest(expected.encode(), presented.strip().encode()):
        raise WebhookRejected("bad_signature", "The signature does not match the body.")


def check_shared_token(*, secret: str, presented: str) -> None:
    """A plain shared secret in a header (GitLab's X-Gitlab-Token, Azure DevOps service-hook headers)."""
    if not presented:
        raise WebhookRejected("missing_signature", "The delivery carries no token.")
    if not hmac.compare_digest(secret.encode(), presented.encode()):
        raise WebhookRejected("bad_signature", "The token does not match.")


def check_standard_webhook(*, secret: str, message_id: str, timestamp: str, body: bytes, presented: str) -> datetime:
    """Standard Webhooks (GitLab's signing token): `v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`, key `whsec_...`.

    Returns the signed timestamp for the replay window. Several space-separated signatures may be
    presented (during key rotation); one match is enough.
    """
    if not (message_id and timestamp and presented):
        raise WebhookRejected("missing_signature", "webhook-id, webhook-timestamp and webhook-signature are required.")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        signed_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("bad_signature", "The signing key or timestamp is malformed.") from exc
    expected = base64.b64encode(hmac_sha256(key, f"{message_id}.{timestamp}.".encode() + body)).decode()
    for candidate in presented.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected.encode()):
            return signed_at
    raise WebhookRejected("bad_signature", "No signature matches the body.")


def standard_webhook_signature(*, secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac_sha256(key, f"{message_id}.{timestamp}.".encode() + body)).decode()
