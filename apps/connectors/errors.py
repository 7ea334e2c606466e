"""What can go wrong when we talk to an external system, as exceptions callers can act on.

The transport raises them after its own retries are spent; providers raise them for vendor errors that
arrive with a 2xx status (Slack's `ok: false`). The sync engine retries `retryable` errors later and marks
a record failed on the others; the API maps them to problem+json.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base class: a call to an external system failed."""

    code = "connector_error"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class AddressRefused(ConnectorError):
    """The URL resolves to a private, loopback or link-local address and the platform does not allow that."""

    code = "address_refused"


class ConfigInvalid(ConnectorError):
    """A connector's configuration or credentials fail the provider's own validation."""

    code = "config_invalid"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [{"field": None, "message": message, "code": self.code}]


class AuthenticationFailed(ConnectorError):
    """The vendor refused our credentials (401, or its own equivalent)."""

    code = "authentication_failed"


class AccessDenied(ConnectorError):
    """The credentials are valid but lack the right for this call (403 that is not a rate limit)."""

    code = "access_denied"


class RecordNotFound(ConnectorError):
    code = "not_found"


class InvalidRequest(ConnectorError):
    """The vendor rejected what we sent (400/422): retrying the same request cannot help."""

    code = "invalid_request"


class RemoteConflict(ConnectorError):
    code = "remote_conflict"


class NotSupported(ConnectorError):
    """The provider or vendor cannot do this (e.g. GitHub cannot delete an issue through its REST API)."""

    code = "not_supported"


class RateLimited(ConnectorError):
    """The vendor's rate limit (or our shared budget for it) says wait longer than we may wait now."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class UpstreamUnavailable(ConnectorError):
    """5xx, timeouts and connection failures that outlived our retries."""

    code = "upstream_unavailable"
    retryable = True


class InvalidCursor(ConnectorError):
    """A `read_changes` cursor that this provider did not produce (or produced in an older format)."""

    code = "invalid_cursor"


class ActionInputInvalid(ConnectorError):
    """An action's input or output does not match the action's JSON Schema."""

    code = "action_input_invalid"

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class WebhookRejected(Exception):
    """An inbound webhook failed verification; `reason` is recorded on the delivery."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason
