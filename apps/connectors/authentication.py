"""How a connection proves who it is to the vendor: static secrets, or OAuth2 with token refresh.

OAuth2 access tokens are refreshed shortly *before* they expire, under a lock named for the connection
(Redis when available), so exactly one worker refreshes; the others wait, re-read the credentials and
use the new token. The rotated tokens (vendors may rotate the refresh token too) are written back through
the connection's credentials store in one locked transaction.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apps.connectors import metrics
from apps.connectors.coordination import named_lock
from apps.connectors.errors import AuthenticationFailed, ConnectorError

if TYPE_CHECKING:
    from apps.connectors.connections import Connection
    from apps.connectors.transport import OutboundClient

logger = logging.getLogger(__name__)

# Refresh this long before the vendor's expiry, so a token never expires in flight.
REFRESH_SKEW_SECONDS = 120


class Authenticator:
    """Adds credentials to a request. Subclasses override what they need."""

    def headers(self, client: OutboundClient) -> dict[str, str]:
        return {}

    def params(self) -> dict[str, str]:
        return {}

    def refresh_after_unauthorized(self, client: OutboundClient) -> bool:
        """Called once after a 401: True if new credentials were obtained and the call should be retried."""
        return False


class NoAuth(Authenticator):
    pass


class BearerToken(Authenticator):
    def __init__(self, token: str) -> None:
        self.token = token

    def headers(self, client: OutboundClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class HeaderToken(Authenticator):
    """A secret in a vendor-specific header (GitLab's `PRIVATE-TOKEN`, API keys)."""

    def __init__(self, header: str, value: str) -> None:
        self.header, self.value = header, value

    def headers(self, client: OutboundClient) -> dict[str, str]:
        return {self.header: self.value}


class QueryToken(Authenticator):
    """A secret in the query string, for the APIs that want it there."""

    def __init__(self, param: str, value: str) -> None:
        self.param, self.value = param, value

    def params(self) -> dict[str, str]:
        return {self.param: self.value}


class BasicAuth(Authenticator):
    """HTTP Basic: Jira's email + API token, ServiceNow users, Azure DevOps PATs (empty user name)."""

    def __init__(self, username: str, password: str) -> None:
        raw = f"{username}:{password}".encode()
        self.value = "Basic " + base64.b64encode(raw).decode()

    def headers(self, client: OutboundClient) -> dict[str, str]:
        return {"Authorization": self.value}


class OAuth2(Authenticator):
    """OAuth2 bearer tokens from a token endpoint: `refresh_token` or `client_credentials` grant.

    Credentials used: `access_token`, `expires_at` (epoch seconds), `refresh_token` (refresh grant),
    `client_id`, `client_secret`. `on_token` lets a provider keep extra fields of the token response
    (Salesforce's `instance_url`).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        token_url: str,
        grant_type: str = "refresh_token",
        scope: str = "",
        extra_params: dict[str, str] | None = None,
        on_token: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if grant_type not in ("refresh_token", "client_credentials"):
            raise ValueError(f"Unsupported grant {grant_type!r}.")
        self.connection = connection
        self.token_url = token_url
        self.grant_type = grant_type
        self.scope = scope
        self.extra_params = extra_params or {}
        self.on_token = on_token
        self.clock = clock

    def _fresh(self, credentials: dict[str, Any]) -> bool:
        token, expires_at = credentials.get("access_token"), credentials.get("expires_at")
        if not token:
            return False
        if expires_at is None:
            return True
        return float(expires_at) - REFRESH_SKEW_SECONDS > self.clock()

    def headers(self, client: OutboundClient) -> dict[str, str]:
        credentials = self.connection.credentials_store.load()
        if not self._fresh(credentials):
            credentials = self.refresh(client, rejected_token=None)
        return {"Authorization": f"Bearer {credentials['access_token']}"}

    def refresh_after_unauthorized(self, client: OutboundClient) -> bool:
        rejected = self.connection.credentials_store.load().get("access_token")
        self.refresh(client, rejected_token=rejected)
        return True

    def refresh(self, client: OutboundClient, *, rejected_token: str | None) -> dict[str, Any]:
        """Get a new access token unless another worker just did; return the credentials to use."""
        store = self.connection.credentials_store
        with named_lock(f"oauth:{self.connection.id}", timeout=30, wait=30):
            current = store.reload()
            if rejected_token is None and self._fresh(current):
                return current  # another worker refreshed while we queued for the lock
            if rejected_token is not None and current.get("access_token") not in (None, rejected_token):
                return current
            payload = self._request_token(client, current)
            issued = {
                "access_token": payload["access_token"],
                "expires_at": self.clock() + float(payload.get("expires_in") or 3600),
            }
            if payload.get("refresh_token"):
                issued["refresh_token"] = payload["refresh_token"]  # the vendor rotated it
            if self.on_token is not None:
                issued.update(self.on_token(payload))
            client.stats.token_refreshes += 1
            return store.replace(lambda stored: {**stored, **issued})

    def _request_token(self, client: OutboundClient, credentials: dict[str, Any]) -> dict[str, Any]:
        form: dict[str, str] = {"grant_type": self.grant_type, **self.extra_params}
        if self.grant_type == "refresh_token":
            if not credentials.get("refresh_token"):
                raise AuthenticationFailed("No refresh token is stored; connect the account again.")
            form["refresh_token"] = credentials["refresh_token"]
        if self.scope:
            form["scope"] = self.scope
        form["client_id"] = credentials.get("client_id", "")
        form["client_secret"] = credentials.get("client_secret", "")
        try:
            response = client.request(
                "POST", self.token_url, data=form, authenticate=False, use_budget=False, allow_foreign_origin=True
            )
        except ConnectorError as exc:
            metrics.TOKEN_REFRESHES.labels(client.provider, "failed").inc()
            if exc.status in (400, 401):
                raise AuthenticationFailed(f"The token endpoint refused to issue a token: {exc.message}") from exc
            raise
        payload: dict[str, Any] = response.json()
        if not payload.get("access_token"):
            metrics.TOKEN_REFRESHES.labels(client.provider, "failed").inc()
            raise AuthenticationFailed("The token endpoint answered without an access token.")
        metrics.TOKEN_REFRESHES.labels(client.provider, "ok").inc()
        logger.info("Refreshed the OAuth2 token of connection %s.", self.connection.id)
        return payload
