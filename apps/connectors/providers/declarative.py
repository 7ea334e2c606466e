"""Connectors defined by a manifest (/schemas/connector-manifest.schema.json), interpreted here.

Nothing in a manifest runs: templates are `{{ root.path }}` look-ups with a handful of fixed filters,
paths are dot paths, transforms and conditions are names from a closed list. The same transport, rate
budget, cursors and webhook checks serve manifest connectors and coded ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx

from apps.connectors.authentication import (
    Authenticator,
    BasicAuth,
    BearerToken,
    HeaderToken,
    NoAuth,
    OAuth2,
    QueryToken,
)
from apps.connectors.errors import ConfigInvalid, InvalidRequest, NotSupported, WebhookRejected
from apps.connectors.manifests import load_builtin_manifest
from apps.connectors.policies import RateLimitPolicy
from apps.connectors.providers.base import (
    ActionSpec,
    ChangePage,
    InboundRequest,
    ObjectType,
    Provider,
    ProviderConfig,
    Record,
    RecordRef,
    VerifiedWebhook,
    WebhookEvent,
    WebhookReply,
    schema_errors,
)
from apps.connectors.providers.cursors import Cursor, watermark_walk
from apps.connectors.providers.signatures import check_shared_token, check_standard_webhook
from apps.connectors.timestamps import iso_utc, iso_utc_millis, parse_timestamp
from apps.connectors.transport import Outcome, ResponseVerdict
from nofx_sdk.connector_manifest import TEMPLATE

if TYPE_CHECKING:
    from apps.connectors.connections import Connection


class _Missing:
    """A template or path that names nothing: body keys holding it are left out of the request."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
PATH_STEP = re.compile(r"^(?P<key>[^\[\]]+)?(?:\[(?P<index>\*|\d+)\])?$")
WHOLE_TEMPLATE = re.compile(r"^\s*{{\s*([^{}]*?)\s*}}\s*$")


# -- Paths, templates and transforms --------------------------------------------------------------------------


def extract(data: Any, path: str) -> Any:
    """The value at a dot path (`a.b`, `items[*].name`, `items[0]`), or MISSING."""
    if path == "":
        return data
    current = data
    steps = path.split(".")
    for position, step in enumerate(steps):
        match = PATH_STEP.match(step)
        if match is None:
            return MISSING
        key, index = match["key"], match["index"]
        if key is not None:
            if not isinstance(current, Mapping) or key not in current:
                return MISSING
            current = current[key]
        if index == "*":
            if not isinstance(current, list):
                return MISSING
            rest = ".".join(steps[position + 1 :])
            values = [extract(item, rest) for item in current]
            return [v for v in values if v is not MISSING]
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return MISSING
            current = current[int(index)]
    return current


def apply_transform(value: Any, name: str) -> Any:
    if value is MISSING or value is None:
        return value
    if name == "string":
        return str(value)
    if name == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if name == "lower":
        return str(value).lower()
    if name == "upper":
        return str(value).upper()
    if name == "last_path_segment":
        return str(value).rstrip("/").rsplit("/", 1)[-1]
    if name == "join_comma":
        return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if name == "split_comma":
        return [part.strip() for part in str(value).split(",") if part.strip()]
    raise ConfigInvalid(f"Unknown transform {name!r}.")


def resolve(expression: str, context: Mapping[str, Any]) -> Any:
    path, *filters = [part.strip() for part in expression.split("|")]
    value = extract(context, path)
    for name in filters:
        value = apply_transform(value, name)
    return value


def render(value: Any, context: Mapping[str, Any], *, encode: bool = False) -> Any:
    """Fill placeholders. A string that is one placeholder keeps the value's type (lists stay lists);
    placeholders inside longer text are stringified (and URL-encoded with `encode`, for paths)."""
    if isinstance(value, str):
        whole = WHOLE_TEMPLATE.match(value)
        if whole and not encode:
            return resolve(whole.group(1), context)

        def fill(match: re.Match[str]) -> str:
            found = resolve(match.group(1), context)
            if found is MISSING or found is None:
                raise InvalidRequest(f"The manifest needs `{match.group(1)}`, which has no value here.")
            return quote(str(found), safe="") if encode else str(found)

        return TEMPLATE.sub(fill, value)
    if isinstance(value, dict):
        rendered = {key: render(item, context, encode=encode) for key, item in value.items()}
        return {key: item for key, item in rendered.items() if item is not MISSING}
    if isinstance(value, list):
        return [item for item in (render(v, context, encode=encode) for v in value) if item is not MISSING]
    return value


def matches(condition: Mapping[str, Any], *, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    expected = condition.get("equals")
    if "header" in condition:
        return headers.get(str(condition["header"]).lower()) == expected
    if "query" in condition:
        return query.get(str(condition["query"])) == expected
    if "body_path" in condition:
        return extract(body, str(condition["body_path"])) == expected
    return False


def format_watermark(moment: datetime, style: str) -> str:
    if style == "iso8601_millis":
        return iso_utc_millis(moment)
    if style == "epoch_seconds":
        return str(int(moment.timestamp()))
    if style == "epoch_millis":
        return str(int(moment.timestamp() * 1000))
    if style == "datetime_space":
        return iso_utc(moment).replace("T", " ").rstrip("Z")
    return iso_utc(moment)


# -- The provider -------------------------------------------------------------------------------------------


class ManifestProvider(Provider):
    """A provider whose whole behaviour comes from a manifest document."""

    kind = "custom"
    title = "Custom connector (manifest)"

    def __init__(self, connection: Connection, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(connection)
        document = manifest or connection.manifest
        if document is None:
            raise ConfigInvalid("A manifest connector needs its manifest.")
        self.manifest: dict[str, Any] = document
        hints = document.get("rate_limit") or {}
        policy = connection.rate_limit
        if hints and policy.requests_per_second is None:
            # The manifest's pacing applies until the connector sets its own.
            connection.rate_limit = RateLimitPolicy(
                requests_per_second=hints.get("requests_per_second"),
                burst=int(hints.get("burst", policy.burst)),
                reserve=max(int(hints.get("reserve", 0)), policy.reserve),
                max_wait=policy.max_wait,
            )

    # -- Configuration ----------------------------------------------------------------------------------

    @classmethod
    def validate_manifest_config(
        cls, document: dict[str, Any], *, base_url: str, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> ProviderConfig:
        errors = schema_errors(document.get("settings_schema") or {"type": "object"}, settings, prefix="settings")
        errors += schema_errors(
            document.get("credentials_schema") or {"type": "object"}, credentials, prefix="credentials"
        )
        if errors:
            raise ConfigInvalid("The configuration is not valid for this manifest.", errors=errors)
        url = (base_url or document["base_url"]).rstrip("/")
        return ProviderConfig(base_url=url, settings=dict(settings), credentials=dict(credentials))

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {"settings": self.settings, "credentials": self.credentials, **extra}

    def authenticator(self) -> Authenticator:
        auth = self.manifest["auth"]
        context = self._context()
        kind = auth["type"]
        if kind == "bearer":
            return BearerToken(str(render(auth["token"], context)))
        if kind == "basic":
            return BasicAuth(str(render(auth["username"], context)), str(render(auth["password"], context)))
        if kind == "api_key":
            value = str(render(auth["value"], context))
            if auth.get("header"):
                return HeaderToken(auth["header"], value)
            return QueryToken(auth["query_param"], value)
        if kind == "oauth2_client_credentials":
            return OAuth2(
                self.connection,
                token_url=str(render(auth["token_url"], context)),
                grant_type="client_credentials",
                scope=auth.get("scope", ""),
            )
        return NoAuth()

    def classify_response(self, response: httpx.Response) -> ResponseVerdict | None:
        rules = self.manifest.get("errors") or []
        if not rules:
            return None
        body: Any = MISSING
        for rule in rules:
            when = rule["when"]
            statuses = when.get("status")
            if statuses is not None and response.status_code not in (
                statuses if isinstance(statuses, list) else [statuses]
            ):
                continue
            if "header" in when and response.headers.get(when["header"]) != when.get("equals"):
                continue
            if "body_path" in when:
                if body is MISSING:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                if extract(body, when["body_path"]) != when.get("equals"):
                    continue
            return ResponseVerdict(Outcome(rule["outcome"]), rule.get("message", ""))
        return None

    # -- Requests ---------------------------------------------------------------------------------------

    def _send(
        self, spec: dict[str, Any], context: dict[str, Any], *, extra_params: dict[str, Any] | None = None
    ) -> httpx.Response:
        path = str(render(spec["path"], context, encode=True))
        params = {k: v for k, v in render(spec.get("params") or {}, context).items() if v is not None}
        params.update(extra_params or {})
        headers = {**render(self.manifest.get("headers") or {}, context), **render(spec.get("headers") or {}, context)}
        kwargs: dict[str, Any] = {}
        if "body" in spec:
            body = render(spec["body"], context)
            kwargs["data" if spec.get("body_format") == "form" else "json"] = body
        return self.http.request(
            spec["method"], path, params=params, headers={k: str(v) for k, v in headers.items()}, **kwargs
        )

    def ping(self) -> None:
        self._send(self.manifest["check"]["request"], self._context())

    # -- Streams ----------------------------------------------------------------------------------------

    def _stream(self, name: str) -> dict[str, Any]:
        for stream in self.manifest["streams"]:
            if stream["name"] == name:
                return dict(stream)
        raise NotSupported(f"This connector has no object type {name!r}.")

    def object_types(self) -> list[ObjectType]:
        types = []
        for stream in self.manifest["streams"]:
            incremental = stream.get("incremental") or {}
            operations = ("read", *(op for op in ("get", "create", "update", "delete") if op in stream))
            types.append(
                ObjectType(
                    stream["name"],
                    stream["title"],
                    stream["schema"],
                    id_field=stream["primary_key"],
                    updated_field=incremental.get("cursor_field"),
                    incremental=bool(incremental),
                    operations=operations,
                )
            )
        return types

    def _records(
        self, stream: dict[str, Any], payload: Any, selector: dict[str, Any] | None = None
    ) -> tuple[list[Record], int]:
        """The records in a response, and how many items the vendor sent (before exclusions)."""
        selector = selector if selector is not None else (stream.get("record_selector") or {})
        found = extract(payload, selector.get("path", ""))
        items = found if isinstance(found, list) else ([] if found is MISSING or found is None else [found])
        excluded = set(selector.get("exclude_if_present") or [])
        fields = stream.get("fields")
        cursor_field = (stream.get("incremental") or {}).get("cursor_field")
        records = []
        for item in items:
            if not isinstance(item, dict) or excluded & set(item):
                continue
            data = self._map(item, fields) if fields else dict(item)
            key = data.get(stream["primary_key"])
            if key is None:
                raise InvalidRequest(f"A {stream['name']} record has no `{stream['primary_key']}`.")
            updated = parse_timestamp(data.get(cursor_field)) if cursor_field else None
            records.append(Record(stream["name"], str(key), data, updated))
        return records, len(items)

    @staticmethod
    def _map(item: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        data = {}
        for name, spec in fields.items():
            path, transforms = (spec, []) if isinstance(spec, str) else (spec["path"], spec.get("transform", []))
            value = extract(item, path)
            for transform in [transforms] if isinstance(transforms, str) else transforms:
                value = apply_transform(value, transform)
            data[name] = None if value is MISSING else value
        return data

    def _fetch_page(
        self, stream: dict[str, Any], cursor: Cursor, token: str | None, page_size: int | None
    ) -> tuple[list[Record], str | None]:
        pagination = stream.get("pagination") or {"type": "none"}
        style = pagination["type"]
        size = min(page_size or pagination.get("page_size", 50), pagination.get("page_size", 10000))
        if style == "link_header" and token:
            response = self.http.request(
                "GET", token, headers=render(self.manifest.get("headers") or {}, self._context())
            )
            records, count = self._records(stream, response.json())
            return records, response.links.get(pagination.get("rel", "next"), {}).get("url")
        params: dict[str, Any] = {}
        if pagination.get("page_size_param"):
            params[pagination["page_size_param"]] = size
        incremental = stream.get("incremental")
        if incremental and cursor.watermark is not None:
            params[incremental["param"]] = format_watermark(cursor.watermark, incremental.get("format", "iso8601"))
        if style == "cursor" and token:
            params[pagination["cursor_param"]] = token
        elif style == "offset":
            params[pagination["offset_param"]] = int(token or 0)
        elif style == "page":
            params[pagination["page_param"]] = int(token or pagination.get("start_page", 1))
        response = self._send(stream["request"], self._context(), extra_params=params)
        payload = response.json()
        records, count = self._records(stream, payload)
        next_token: str | None = None
        if style == "link_header":
            next_token = response.links.get(pagination.get("rel", "next"), {}).get("url")
        elif style == "cursor":
            found = extract(payload, pagination["cursor_path"])
            next_token = str(found) if found not in (MISSING, None, "") else None
        elif style == "offset":
            next_token = str(int(token or 0) + count) if count >= size else None
        elif style == "page":
            current = int(token or pagination.get("start_page", 1))
            if pagination.get("next_page_header"):
                next_token = response.headers.get(pagination["next_page_header"]) or None
            else:
                next_token = str(current + 1) if count >= size else None
        return records, next_token

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        stream = self._stream(object_type)
        if stream.get("incremental"):
            return watermark_walk(
                since_cursor, lambda cursor, token: self._fetch_page(stream, cursor, token, page_size)
            )
        cursor = Cursor.decode(since_cursor)
        records, next_token = self._fetch_page(stream, cursor, cursor.token, page_size)
        if next_token is None:
            return ChangePage(records, None, False)
        return ChangePage(records, Cursor(token=next_token).encode(), True)

    def _operation(
        self, object_type: str, operation: str, context: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Record]]:
        self.object_type(object_type, operation)
        stream = self._stream(object_type)
        spec = stream[operation]
        response = self._send(spec["request"], self._context(**context))
        if operation == "delete" or not response.content:
            return stream, []
        records, _count = self._records(stream, response.json(), spec.get("record_selector") or {"path": ""})
        return stream, records

    def get(self, object_type: str, record_id: str) -> Record:
        _stream, records = self._operation(object_type, "get", {"id": record_id})
        if not records:
            raise InvalidRequest(f"The {object_type} answer held no record.")
        return records[0]

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        _stream, records = self._operation(object_type, "create", {"record": data})
        if not records:
            raise InvalidRequest(f"The {object_type} create answer held no record.")
        return records[0]

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        _stream, records = self._operation(object_type, "update", {"record": data, "id": record_id})
        return records[0] if records else self.get(object_type, record_id)

    def delete(self, object_type: str, record_id: str) -> None:
        self._operation(object_type, "delete", {"id": record_id})

    # -- Actions ----------------------------------------------------------------------------------------

    def actions(self) -> list[ActionSpec]:
        return [
            ActionSpec(
                name=action["name"],
                title=action["title"],
                description=action.get("description", ""),
                input_schema=action["input_schema"],
                output_schema=action["output_schema"],
                handler="",
                permission=action.get("permission", "connectors.operate"),
            )
            for action in self.manifest.get("actions", [])
        ]

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.action(name)
        action = next(a for a in self.manifest.get("actions", []) if a["name"] == name)
        response = self._send(action["request"], self._context(input=payload))
        body = response.json() if response.content else {}
        output = action.get("output")
        if not output:
            return body if isinstance(body, dict) else {"result": body}
        return self._map(body, output)

    # -- Webhooks ---------------------------------------------------------------------------------------

    def _hooks(self) -> dict[str, Any]:
        hooks = self.manifest.get("webhooks")
        if not hooks:
            raise WebhookRejected("not_supported", "This connector's manifest defines no webhooks.")
        return dict(hooks)

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        hooks = self._hooks()
        signature = hooks["signature"]
        secret = render(signature["secret"], self._context())
        if secret is MISSING or not secret:
            raise WebhookRejected("not_configured", "No webhook secret is configured for this connector.")
        signed_at = None
        if signature["type"] == "hmac_sha256":
            presented = request.header(signature["header"])
            if not presented:
                raise WebhookRejected("missing_signature", "The delivery carries no signature.")
            digest = hmac.new(str(secret).encode(), request.body, hashlib.sha256).digest()
            encoded = digest.hex() if signature.get("encoding", "hex") == "hex" else base64.b64encode(digest).decode()
            expected = signature.get("prefix", "") + encoded
            if not hmac.compare_digest(expected.encode(), presented.strip().encode()):
                raise WebhookRejected("bad_signature", "The signature does not match the body.")
        elif signature["type"] == "token":
            check_shared_token(secret=str(secret), presented=request.header(signature["header"]))
        else:
            signed_at = check_standard_webhook(
                secret=str(secret),
                message_id=request.header("webhook-id"),
                timestamp=request.header("webhook-timestamp"),
                body=request.body,
                presented=request.header("webhook-signature"),
            )
        body = request.json() if request.body else None
        timestamp = hooks.get("timestamp")
        if timestamp and signed_at is None:
            raw = (
                request.header(timestamp["header"])
                if timestamp.get("header")
                else extract(body, timestamp.get("body_path", ""))
            )
            if raw in (MISSING, None, ""):
                raise WebhookRejected("malformed_body", "The signed timestamp is missing.")
            if timestamp["format"] == "epoch_millis":
                raw = int(raw) / 1000
            signed_at = parse_timestamp(float(raw) if timestamp["format"].startswith("epoch") else raw)
        delivery = self._pick(request, body, hooks.get("delivery_id_header"), hooks.get("delivery_id_path"))
        event = self._pick(request, body, hooks.get("event_type_header"), hooks.get("event_type_path"))
        for challenge in hooks.get("challenges", []):
            if matches(challenge["when"], body=body, headers=request.headers, query=request.query):
                reply_spec = challenge["reply"]
                context = {"body": body, "headers": dict(request.headers), "query": dict(request.query)}
                rendered = render(reply_spec.get("body", {}), context)
                content_type = reply_spec.get("content_type", "application/json")
                if content_type.startswith("application/json"):
                    reply = WebhookReply.json(rendered, status=reply_spec.get("status", 200))
                else:
                    reply = WebhookReply.text(
                        str(rendered), status=reply_spec.get("status", 200), content_type=content_type
                    )
                return VerifiedWebhook(delivery, event, signed_at=signed_at, reply=reply, kind="challenge")
        return VerifiedWebhook(delivery, event, signed_at=signed_at)

    @staticmethod
    def _pick(request: InboundRequest, body: Any, header: str | None, path: str | None) -> str:
        if header:
            return request.header(header)
        if path:
            found = extract(body, path)
            return "" if found in (MISSING, None) else str(found)
        return ""

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        hooks = self._hooks()
        body = request.json() if request.body else None
        event = self._pick(request, body, hooks.get("event_type_header"), hooks.get("event_type_path"))
        affected = []
        for rule in hooks.get("affected", []):
            if rule.get("events") and event not in rule["events"]:
                continue
            found = extract(body, rule["id_path"])
            if found in (MISSING, None):
                continue
            deleted = bool(rule.get("deleted_when")) and matches(
                rule["deleted_when"], body=body, headers=request.headers, query=request.query
            )
            affected.append(RecordRef(rule["object_type"], str(found), deleted=deleted))
        return WebhookEvent(event_type=event, affected=affected)


class CustomManifestProvider(ManifestProvider):
    """An organization's own manifest connector (`provider="custom"`): the manifest is the connector's."""


def _builtin_class_attributes(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "settings_schema": document.get("settings_schema", {"type": "object"}),
        "credentials_schema": document.get("credentials_schema", {"type": "object"}),
        "default_base_url": document["base_url"],
    }


class GitHubManifestProvider(ManifestProvider):
    """GitHub defined by providers/manifests/github.yaml: the proof that the manifest format is complete."""

    kind = "github_declarative"
    title = "GitHub (declarative)"
    builtin: ClassVar[str] = "github"

    def __init__(self, connection: Connection, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(connection, manifest=manifest or load_builtin_manifest(self.builtin))

    @classmethod
    def validate_config(cls, *, base_url: str, settings: dict[str, Any], credentials: dict[str, Any]) -> ProviderConfig:
        return cls.validate_manifest_config(
            load_builtin_manifest(cls.builtin), base_url=base_url, settings=settings, credentials=credentials
        )


for _name, _value in _builtin_class_attributes(load_builtin_manifest("github")).items():
    setattr(GitHubManifestProvider, _name, _value)
GitHubManifestProvider.action_list = tuple(
    ActionSpec(a["name"], a["title"], a.get("description", ""), a["input_schema"], a["output_schema"], handler="")
    for a in load_builtin_manifest("github").get("actions", [])
)
GitHubManifestProvider.object_type_list = tuple(
    ObjectType(s["name"], s["title"], s["schema"], id_field=s["primary_key"])
    for s in load_builtin_manifest("github")["streams"]
)
