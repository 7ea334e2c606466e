"""The one door to Stripe: keys and host from settings, requests through the guarded outbound transport.

stripe-python 15 objects are not dicts; callers read them with `obj["x"]` or `.to_dict()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import stripe
from django.conf import settings

from apps.connectors.errors import AddressRefused
from apps.connectors.transport import guarded_http_client

STRIPE_TIMEOUT_SECONDS = 30.0


class BillingNotConfigured(Exception):
    """No Stripe secret key is set: paid plans cannot be sold on this deployment."""


class GuardedStripeHTTPClient(stripe.HTTPClient):
    """stripe-python's HTTP client interface over the address-guarded httpx client of apps.connectors."""

    name = "nofx-guarded-httpx"

    def __init__(self) -> None:
        super().__init__()
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = guarded_http_client(timeout=STRIPE_TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, **_: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        try:
            response = self._http().request(method.upper(), url, headers=dict(headers or {}), content=post_data)
        except (httpx.HTTPError, AddressRefused) as exc:
            raise stripe.APIConnectionError(f"Could not reach Stripe: {exc}") from exc
        return response.text, response.status_code, dict(response.headers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def secret_key() -> str:
    return str(settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY)


def stripe_configured() -> bool:
    """Whether a Stripe secret key is set (paid plans can be sold)."""
    return bool(secret_key())


def stripe_client() -> Any:
    """The configured `stripe` module: key, host and (unless a test installed its own) the guarded client."""
    key = secret_key()
    if not key:
        raise BillingNotConfigured("Paid plans are unavailable on this deployment: billing is not set up.")
    stripe.api_key = key
    stripe.api_base = getattr(settings, "STRIPE_API_HOST", "") or "https://api.stripe.com"
    stripe.max_network_retries = 0
    if not isinstance(stripe.default_http_client, stripe.HTTPClient):
        stripe.default_http_client = GuardedStripeHTTPClient()
    return stripe


def as_dict(obj: Any) -> dict[str, Any]:
    """A Stripe object (or a plain dict from a webhook) as a plain dict."""
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dict(obj or {})
