"""ServiceNow Table API: incidents and change requests, work notes; signed outbound REST messages.

Docs: the Table API (`GET/POST/PATCH/DELETE /api/now/table/{table}`) with `sysparm_query`,
`sysparm_limit`, `sysparm_offset`, `sysparm_fields`, `sysparm_display_value=false` (raw values, UTC
timestamps) and the `Link` header for the next page. Changes are read with
`sys_updated_on>=<watermark>^ORDERBYsys_updated_on^ORDERBYsys_id`; the integration user's time zone must
be UTC (docs/connectors/webhooks.md) because encoded-query literals are read in the user's zone.

ServiceNow has no built-in webhook signature: the Business Rule we document sends
`X-SN-Timestamp` and `X-SN-Signature = base64(HMAC-SHA256(secret, "<timestamp>.<body>"))`.
"""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime
from typing import Any

from apps.connectors.authentication import Authenticator, BasicAuth
from apps.connectors.errors import WebhookRejected
from apps.connectors.providers.base import (
    ActionSpec,
    ChangePage,
    InboundRequest,
    ObjectType,
    Provider,
    Record,
    RecordRef,
    VerifiedWebhook,
    WebhookEvent,
    record_schema,
)
from apps.connectors.providers.cursors import Cursor, watermark_walk
from apps.connectors.providers.signatures import hmac_sha256, require_secret

FIELDS = (
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "priority",
    "urgency",
    "impact",
    "assigned_to",
    "category",
    "sys_created_on",
    "sys_updated_on",
    "sys_mod_count",
)
WRITABLE = ("short_description", "description", "state", "priority", "urgency", "impact", "assigned_to", "category")
TABLES = ("incident", "change_request")


def _schema(title: str) -> dict[str, Any]:
    choice = {"type": "string", "pattern": "^[0-9]*$"}
    return record_schema(
        title,
        {
            "sys_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "number": {"type": "string"},
            "short_description": {"type": "string", "minLength": 1, "maxLength": 160},
            "description": {"type": "string"},
            "state": {**choice, "description": "The state's value (e.g. 1 New, 2 In Progress, 6 Resolved, 7 Closed)."},
            "priority": choice,
            "urgency": choice,
            "impact": choice,
            "assigned_to": {"type": "string", "description": "sys_id of a sys_user, or empty."},
            "category": {"type": "string"},
            "sys_created_on": {"type": "string", "format": "date-time"},
            "sys_updated_on": {"type": "string", "format": "date-time"},
            "sys_mod_count": {"type": "integer"},
        },
        required=("short_description",),
        read_only=("sys_id", "number", "sys_created_on", "sys_updated_on", "sys_mod_count"),
    )


def sn_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class ServiceNowProvider(Provider):
    kind = "servicenow"
    title = "ServiceNow"
    settings_schema = {
        "type": "object",
        "properties": {"username": {"type": "string", "minLength": 1}},
        "required": ["username"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "password": {"type": "string", "minLength": 1},
            "webhook_secret": {"type": "string", "minLength": 16},
        },
        "required": ["password"],
        "additionalProperties": False,
    }
    object_type_list = tuple(
        ObjectType(
            table,
            title,
            _schema(title),
            id_field="sys_id",
            updated_field="sys_updated_on",
            operations=("read", "get", "create", "update", "delete"),
        )
        for table, title in (("incident", "Incidents"), ("change_request", "Change requests"))
    )
    action_list = (
        ActionSpec(
            "add_work_note",
            "Add a work note",
            "Adds a work note (internal journal entry) to an incident or change request.",
            {
                "type": "object",
                "properties": {
                    "table": {"type": "string", "enum": list(TABLES)},
                    "sys_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "note": {"type": "string", "minLength": 1, "maxLength": 4000},
                },
                "required": ["table", "sys_id", "note"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"sys_id": {"type": "string"}, "sys_updated_on": {"type": "string"}},
                "required": ["sys_id", "sys_updated_on"],
            },
            handler="add_work_note",
        ),
        ActionSpec(
            "create_incident",
            "Open an incident",
            "Creates an incident.",
            {
                "type": "object",
                "properties": {
                    "short_description": {"type": "string", "minLength": 1, "maxLength": 160},
                    "description": {"type": "string"},
                    "urgency": {"type": "string", "enum": ["1", "2", "3"]},
                    "impact": {"type": "string", "enum": ["1", "2", "3"]},
                },
                "required": ["short_description"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"sys_id": {"type": "string"}, "number": {"type": "string"}},
                "required": ["sys_id", "number"],
            },
            handler="create_incident",
        ),
    )

    def authenticator(self) -> Authenticator:
        return BasicAuth(self.settings["username"], self.credentials["password"])

    def ping(self) -> None:
        self.http.request("GET", "/api/now/table/incident", params={"sysparm_limit": 1, "sysparm_fields": "sys_id"})

    def record(self, table: str, item: dict[str, Any]) -> Record:
        data = {key: item.get(key, "") for key in FIELDS}
        data["sys_mod_count"] = int(item.get("sys_mod_count") or 0)
        updated = _sn_parse(item.get("sys_updated_on"))
        data["sys_updated_on"] = updated.isoformat() if updated else None
        created = _sn_parse(item.get("sys_created_on"))
        data["sys_created_on"] = created.isoformat() if created else None
        return Record(table, item["sys_id"], data, updated, version=str(data["sys_mod_count"]))

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {
            "sysparm_display_value": "false",
            "sysparm_exclude_reference_link": "true",
            "sysparm_fields": ",".join(FIELDS),
            **extra,
        }

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        limit = min(page_size or self.default_page_size, 10000)

        def fetch(cursor: Cursor, token: str | None) -> tuple[list[Record], str | None]:
            if token:
                response = self.http.request("GET", token)
            else:
                query = "ORDERBYsys_updated_on^ORDERBYsys_id"
                if cursor.watermark is not None:
                    query = f"sys_updated_on>={sn_time(cursor.watermark)}^{query}"
                params = self._params(sysparm_query=query, sysparm_limit=limit, sysparm_offset=0)
                response = self.http.request("GET", f"/api/now/table/{object_type}", params=params)
            records = [self.record(object_type, item) for item in response.json().get("result", [])]
            return records, response.links.get("next", {}).get("url")

        return watermark_walk(since_cursor, fetch)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        item = self.http.json("GET", f"/api/now/table/{object_type}/{record_id}", params=self._params())["result"]
        return self.record(object_type, item)

    @staticmethod
    def _payload(data: dict[str, Any]) -> dict[str, Any]:
        return {key: ("" if data[key] is None else str(data[key])) for key in WRITABLE if key in data}

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        item = self.http.json("POST", f"/api/now/table/{object_type}", params=self._params(), json=self._payload(data))[
            "result"
        ]
        return self.record(object_type, item)

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        item = self.http.json(
            "PATCH", f"/api/now/table/{object_type}/{record_id}", params=self._params(), json=self._payload(data)
        )["result"]
        return self.record(object_type, item)

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self.http.request("DELETE", f"/api/now/table/{object_type}/{record_id}")

    # -- Actions ------------------------------------------------------------------------------------------

    def add_work_note(self, payload: dict[str, Any]) -> dict[str, Any]:
        item = self.http.json(
            "PATCH",
            f"/api/now/table/{payload['table']}/{payload['sys_id']}",
            params=self._params(),
            json={"work_notes": payload["note"]},
        )["result"]
        record = self.record(payload["table"], item)
        return {"sys_id": record.id, "sys_updated_on": str(record.data["sys_updated_on"])}

    def create_incident(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.create("incident", payload)
        return {"sys_id": record.id, "number": str(record.data["number"])}

    # -- Webhooks -----------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = require_secret(self.credentials.get("webhook_secret"))
        timestamp, presented = request.header("x-sn-timestamp"), request.header("x-sn-signature")
        if not (timestamp and presented):
            raise WebhookRejected("missing_signature", "X-SN-Timestamp and X-SN-Signature are required.")
        expected = base64.b64encode(hmac_sha256(secret.encode(), timestamp.encode() + b"." + request.body)).decode()
        if not hmac.compare_digest(expected.encode(), presented.encode()):
            raise WebhookRejected("bad_signature", "The signature does not match the body.")
        try:
            signed_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
        except ValueError as exc:
            raise WebhookRejected("malformed_body", "X-SN-Timestamp is not epoch seconds.") from exc
        payload = request.json() or {}
        event = f"{payload.get('table', '')}.{payload.get('operation', '')}"
        return VerifiedWebhook(request.header("x-sn-delivery-id"), event, signed_at=signed_at)

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        table = payload.get("table")
        affected = []
        if table in TABLES and payload.get("sys_id"):
            affected.append(RecordRef(table, str(payload["sys_id"]), deleted=payload.get("operation") == "delete"))
        return WebhookEvent(event_type=f"{table}.{payload.get('operation', '')}", affected=affected)


def _sn_parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
