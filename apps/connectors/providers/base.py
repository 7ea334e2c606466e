"""The small base class every provider implements, and the plain values it trades in.

A provider speaks one vendor's API for one connector. It never touches the database: it gets a
`Connection` (settings, decrypted credentials, policies and a credentials store for rotated tokens) and
does all HTTP through `self.http`, the connector's `OutboundClient`.

Contract of `read_changes(object_type, since_cursor)`: each call returns one page of records changed at or
after the cursor's watermark (oldest first within the page; a vendor that lists newest first, like Slack,
returns its newer pages first), and the cursor to pass next. Keep calling while `has_more`;
the last page's `next_cursor` is where the next incremental run starts. Delivery is at-least-once: a
record may come again (e.g. when it changed during the read), never silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs

from apps.connectors.errors import (
    AuthenticationFailed,
    ConfigInvalid,
    ConnectorError,
    NotSupported,
    WebhookRejected,
)
from apps.connectors.timestamps import utc_now
from nofx_sdk.connector_manifest import schema_errors

if TYPE_CHECKING:
    import httpx

    from apps.connectors.authentication import Authenticator
    from apps.connectors.connections import Connection
    from apps.connectors.transport import OutboundClient, ResponseVerdict

OPERATIONS = ("read", "get", "create", "update", "delete")


@dataclass(frozen=True)
class ObjectType:
    """A kind of record the provider reads and writes, with the JSON Schema of its normalised form."""

    name: str
    title: str
    schema: dict[str, Any]
    id_field: str = "id"
    updated_field: str | None = "updated_at"
    incremental: bool = True
    operations: tuple[str, ...] = ("read", "get")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "id_field": self.id_field,
            "updated_field": self.updated_field,
            "incremental": self.incremental,
            "operations": list(self.operations),
            "schema": self.schema,
        }


@dataclass(frozen=True)
class Record:
    """One record in normalised form. `updated_at` is the vendor's own timestamp (for latest-wins)."""

    object_type: str
    id: str
    data: dict[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False
    version: str | None = None


@dataclass(frozen=True)
class ChangePage:
    records: list[Record]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class ActionSpec:
    """A capability: an operation with JSON Schemas for its input and output and the permission it needs."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    handler: str
    permission: str = "connectors.operate"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "permission": self.permission,
        }


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    latency_ms: float
    status_code: int | None = None
    error_code: str = ""
    detail: str = ""


@dataclass(frozen=True)
class InboundRequest:
    """An inbound webhook request as the provider sees it: raw body bytes, lower-cased header names."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str | None = None
    received_at: datetime = field(default_factory=utc_now)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise WebhookRejected("malformed_body", "The body is not JSON.") from exc

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}


@dataclass(frozen=True)
class WebhookReply:
    """What to answer the vendor, when it expects more than an empty 2xx (challenges, slash commands)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> WebhookReply:
        return cls(status=status, body=json.dumps(data).encode(), content_type="application/json")

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> WebhookReply:
        return cls(status=status, body=text.encode(), content_type=content_type)


@dataclass(frozen=True)
class VerifiedWebhook:
    """A delivery whose signature checked out.

    `signed_at` is a timestamp covered by the signature; the service enforces the replay window on it.
    `reply` replaces the default 202 (e.g. a URL-verification challenge); `kind` tells the service whether
    to queue processing (`event`), only answer (`challenge`) or answer a chat command (`command`).
    """

    delivery_id: str
    event_type: str
    signed_at: datetime | None = None
    reply: WebhookReply | None = None
    kind: str = "event"
    command: str = ""


@dataclass(frozen=True)
class RecordRef:
    object_type: str
    id: str
    deleted: bool = False


@dataclass(frozen=True)
class WebhookEvent:
    event_type: str
    affected: list[RecordRef]


@dataclass(frozen=True)
class Notification:
    """A platform event routed to a chat channel (sync failures, security events ...)."""

    title: str
    text: str
    severity: str = "info"
    link: str = ""
    facts: tuple[tuple[str, str], ...] = ()


def record_schema(
    title: str,
    properties: dict[str, Any],
    *,
    required: tuple[str, ...] = (),
    read_only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A JSON Schema for a normalised record; `readOnly` marks fields the vendor sets (ids, timestamps)."""
    props = {name: ({**spec, "readOnly": True} if name in read_only else spec) for name, spec in properties.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": True,
    }


@dataclass(frozen=True)
class ProviderConfig:
    """A configuration the provider accepted, normalised (defaults filled in, trailing slashes trimmed)."""

    base_url: str
    settings: dict[str, Any]
    credentials: dict[str, Any]


class Provider:
    """One vendor's API. Subclasses set the class attributes and implement what the vendor supports."""

    kind: ClassVar[str]
    title: ClassVar[str]
    connector_type: ClassVar[str] = "rest"
    default_base_url: ClassVar[str] = ""
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    credentials_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    object_type_list: ClassVar[tuple[ObjectType, ...]] = ()
    action_list: ClassVar[tuple[ActionSpec, ...]] = ()
    # Whether `create` passes an idempotency key to the vendor, so a retried create cannot duplicate.
    supports_idempotency_keys: ClassVar[bool] = False
    is_notification_channel: ClassVar[bool] = False
    default_page_size: ClassVar[int] = 100

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._http: OutboundClient | None = None

    # -- Plumbing ----------------------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        return self.connection.settings

    @property
    def credentials(self) -> dict[str, Any]:
        return self.connection.credentials_store.load()

    @property
    def http(self) -> OutboundClient:
        if self._http is None:
            from apps.connectors.transport import OutboundClient

            self._http = OutboundClient(
                self.connection, authenticator=self.authenticator(), classify=self.classify_response
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authenticator(self) -> Authenticator:
        from apps.connectors.authentication import NoAuth

        return NoAuth()

    def classify_response(self, response: httpx.Response) -> ResponseVerdict | None:
        """Override for vendors whose errors do not follow their status code (None: judge by status)."""
        return None

    # -- Configuration -----------------------------------------------------------------------------------

    @classmethod
    def validate_config(cls, *, base_url: str, settings: dict[str, Any], credentials: dict[str, Any]) -> ProviderConfig:
        """Check settings and credentials against the provider's schemas; raise ConfigInvalid with every error."""
        errors = schema_errors(cls.settings_schema, settings, prefix="settings")
        errors += schema_errors(cls.credentials_schema, credentials, prefix="credentials")
        if errors:
            raise ConfigInvalid("The configuration is not valid for this provider.", errors=errors)
        url = (base_url or cls.default_base_url).rstrip("/")
        if not url:
            raise ConfigInvalid("A base URL is required.", errors=[_field_error("base_url", "Required.", "required")])
        return ProviderConfig(base_url=url, settings=dict(settings), credentials=dict(credentials))

    # -- Reading and writing -----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Make one cheap authenticated call; never raises for vendor errors."""
        from apps.connectors.transport import monotonic_ms

        _client = self.http  # built before the clock starts: the check times the vendor, not our setup
        started = monotonic_ms()
        try:
            self.ping()
        except AuthenticationFailed as exc:
            return ConnectionCheck(False, monotonic_ms() - started, exc.status, exc.code, exc.message)
        except ConnectorError as exc:
            return ConnectionCheck(False, monotonic_ms() - started, exc.status, exc.code, exc.message)
        return ConnectionCheck(True, monotonic_ms() - started, 200)

    def ping(self) -> None:
        raise NotSupported(f"{self.title} has no connection test.")

    def object_types(self) -> list[ObjectType]:
        return list(self.object_type_list)

    def object_type(self, name: str, operation: str = "read") -> ObjectType:
        for candidate in self.object_types():
            if candidate.name == name:
                if operation not in candidate.operations:
                    raise NotSupported(f"{self.title} cannot {operation} {name} records.")
                return candidate
        raise NotSupported(f"{self.title} has no object type {name!r}.")

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        raise NotSupported(f"{self.title} cannot read {object_type} changes.")

    def get(self, object_type: str, record_id: str) -> Record:
        raise NotSupported(f"{self.title} cannot fetch {object_type} records.")

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        raise NotSupported(f"{self.title} cannot create {object_type} records.")

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        raise NotSupported(f"{self.title} cannot update {object_type} records.")

    def delete(self, object_type: str, record_id: str) -> None:
        raise NotSupported(f"{self.title} cannot delete {object_type} records.")

    # -- Actions -----------------------------------------------------------------------------------------

    def actions(self) -> list[ActionSpec]:
        return list(self.action_list)

    def action(self, name: str) -> ActionSpec:
        for spec in self.actions():
            if spec.name == name:
                return spec
        raise NotSupported(f"{self.title} has no action {name!r}.")

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run an action with input already validated against its schema."""
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, self.action(name).handler)
        return handler(payload)

    # -- Webhooks ----------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        raise WebhookRejected("not_supported", f"{self.title} connectors do not accept webhooks.")

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        return WebhookEvent(event_type="unknown", affected=[])

    # -- Notifications -----------------------------------------------------------------------------------

    def post_notification(self, *, channel: str, notification: Notification) -> dict[str, Any]:
        raise NotSupported(f"{self.title} is not a notification channel.")

    def chat_reply(self, *, summary: str, lines: list[str]) -> WebhookReply:
        """The answer to a chat command (`/nofx status`), in the vendor's message format."""
        return WebhookReply.json({"text": "\n".join([summary, *lines])})


def _field_error(field_name: str, message: str, code: str) -> dict[str, Any]:
    return {"field": field_name, "message": message, "code": code}


def require_setting(settings: Mapping[str, Any], name: str) -> Any:
    value = settings.get(name)
    if value in (None, ""):
        raise ConfigInvalid(
            f"`{name}` is required.", errors=[_field_error(f"settings.{name}", "Required.", "required")]
        )
    return value
