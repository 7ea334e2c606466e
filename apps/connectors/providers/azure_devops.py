"""Azure DevOps Services REST API: work items of one project, comments, state changes, team iterations.

Docs: https://learn.microsoft.com/rest/api/azure/devops/ (api-version 7.1). Changes are found with WIQL on
`[System.ChangedDate]` with `timePrecision=true` (without it WIQL compares whole days) ordered by
ChangedDate then Id; WIQL answers ids only, so each page of ids is fetched with `workitemsbatch` (at most
200). Creates and updates are JSON Patch documents. Service hooks carry no signature: the subscription is
set up to send a shared secret in a header (docs/connectors/webhooks.md).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import quote

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
from apps.connectors.providers.signatures import require_secret
from apps.connectors.timestamps import iso_utc_millis, parse_timestamp

API_VERSION = "7.1"
COMMENTS_API_VERSION = "7.1-preview.4"
BATCH_LIMIT = 200
FIELD_MAP = {
    "title": "System.Title",
    "description": "System.Description",
    "state": "System.State",
    "work_item_type": "System.WorkItemType",
    "assigned_to": "System.AssignedTo",
    "iteration_path": "System.IterationPath",
    "tags": "System.Tags",
    "priority": "Microsoft.VSTS.Common.Priority",
    "created": "System.CreatedDate",
    "changed": "System.ChangedDate",
}
WRITABLE = ("title", "description", "state", "assigned_to", "iteration_path", "tags", "priority")

WORK_ITEM_SCHEMA = record_schema(
    "Azure DevOps work item",
    {
        "id": {"type": "integer"},
        "rev": {"type": "integer"},
        "title": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"], "description": "HTML."},
        "state": {"type": "string"},
        "work_item_type": {"type": "string"},
        "assigned_to": {"type": ["string", "null"], "description": "The user's unique name (email)."},
        "iteration_path": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "priority": {"type": ["integer", "null"], "minimum": 1, "maximum": 4},
        "url": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "changed": {"type": "string", "format": "date-time"},
    },
    required=("title",),
    read_only=("id", "rev", "work_item_type", "url", "created", "changed"),
)
ITERATION_SCHEMA = record_schema(
    "Azure DevOps iteration",
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "path": {"type": "string"},
        "start_date": {"type": ["string", "null"], "format": "date-time"},
        "finish_date": {"type": ["string", "null"], "format": "date-time"},
        "time_frame": {"type": ["string", "null"], "enum": ["past", "current", "future", None]},
    },
    read_only=("id", "name", "path", "start_date", "finish_date", "time_frame"),
)


class AzureDevOpsProvider(Provider):
    kind = "azure_devops"
    title = "Azure DevOps"
    default_base_url = "https://dev.azure.com"
    default_page_size = BATCH_LIMIT
    settings_schema = {
        "type": "object",
        "properties": {
            "organization": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9-]{0,49}$"},
            "project": {"type": "string", "minLength": 1, "maxLength": 64},
            "team": {"type": "string", "minLength": 1, "description": "The team whose iterations are read."},
            "work_item_type": {"type": "string", "minLength": 1, "default": "Task"},
            "webhook_header": {"type": "string", "pattern": r"^[A-Za-z0-9-]+$", "default": "X-NOFX-Webhook-Secret"},
        },
        "required": ["organization", "project"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "personal_access_token": {"type": "string", "minLength": 1},
            "webhook_secret": {"type": "string", "minLength": 16},
        },
        "required": ["personal_access_token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType(
            "work_item",
            "Work items",
            WORK_ITEM_SCHEMA,
            updated_field="changed",
            operations=("read", "get", "create", "update", "delete"),
        ),
        ObjectType(
            "iteration", "Iterations", ITERATION_SCHEMA, updated_field=None, incremental=False, operations=("read",)
        ),
    )
    action_list = (
        ActionSpec(
            "add_comment",
            "Comment on a work item",
            "Adds a discussion comment to a work item.",
            {
                "type": "object",
                "properties": {
                    "work_item_id": {"type": "integer", "minimum": 1},
                    "text": {"type": "string", "minLength": 1},
                },
                "required": ["work_item_id", "text"],
                "additionalProperties": False,
            },
            {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            handler="add_comment",
        ),
        ActionSpec(
            "set_state",
            "Change a work item's state",
            "Moves a work item to another state of its process (e.g. Active, Resolved, Closed).",
            {
                "type": "object",
                "properties": {
                    "work_item_id": {"type": "integer", "minimum": 1},
                    "state": {"type": "string", "minLength": 1},
                },
                "required": ["work_item_id", "state"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "state": {"type": "string"}, "rev": {"type": "integer"}},
                "required": ["id", "state", "rev"],
            },
            handler="set_state",
        ),
    )

    def authenticator(self) -> Authenticator:
        # A PAT is the Basic password; the user name is empty.
        return BasicAuth("", self.credentials["personal_access_token"])

    def _project(self, suffix: str) -> str:
        return f"/{quote(self.settings['organization'])}/{quote(self.settings['project'])}/{suffix.lstrip('/')}"

    def _json(
        self, method: str, path: str, *, version: str = API_VERSION, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return self.http.json(method, path, params={"api-version": version, **(params or {})}, **kwargs)

    def ping(self) -> None:
        self._json("GET", f"/{quote(self.settings['organization'])}/_apis/projects/{quote(self.settings['project'])}")

    # -- Records ------------------------------------------------------------------------------------------

    def work_item_record(self, item: dict[str, Any]) -> Record:
        fields = item.get("fields") or {}
        data: dict[str, Any] = {"id": item["id"], "rev": item.get("rev"), "url": item.get("url")}
        for name, reference in FIELD_MAP.items():
            data[name] = fields.get(reference)
        assigned = data.get("assigned_to")
        if isinstance(assigned, dict):
            data["assigned_to"] = assigned.get("uniqueName")
        data["tags"] = [t.strip() for t in (fields.get("System.Tags") or "").split(";") if t.strip()]
        return Record(
            "work_item", str(item["id"]), data, parse_timestamp(data["changed"]), version=str(item.get("rev"))
        )

    @staticmethod
    def iteration_record(item: dict[str, Any]) -> Record:
        attributes = item.get("attributes") or {}
        data = {
            "id": item["id"],
            "name": item.get("name"),
            "path": item.get("path"),
            "start_date": attributes.get("startDate"),
            "finish_date": attributes.get("finishDate"),
            "time_frame": attributes.get("timeFrame"),
        }
        return Record("iteration", str(item["id"]), data, None)

    def _wiql(self, cursor: Cursor) -> str:
        where = "[System.TeamProject] = @project"
        if cursor.watermark is not None:
            where += f" AND [System.ChangedDate] >= '{iso_utc_millis(cursor.watermark)}'"
        # WIQL, not SQL, and the only value interpolated is our own timestamp.
        return f"SELECT [System.Id] FROM WorkItems WHERE {where} ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"  # noqa: S608

    def _batch(self, ids: list[int]) -> list[Record]:
        if not ids:
            return []
        answer = self._json("POST", self._project("_apis/wit/workitemsbatch"), json={"ids": ids, "errorPolicy": "omit"})
        by_id = {item["id"]: item for item in answer.get("value", []) if item}
        return [self.work_item_record(by_id[i]) for i in ids if i in by_id]

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        if object_type == "iteration":
            team = self.settings.get("team") or f"{self.settings['project']} Team"
            answer = self._json("GET", self._project(f"{quote(team)}/_apis/work/teamsettings/iterations"))
            return ChangePage([self.iteration_record(i) for i in answer.get("value", [])], None, False)
        limit = min(page_size or self.default_page_size, BATCH_LIMIT)

        def fetch(cursor: Cursor, token: str | None) -> tuple[list[Record], str | None]:
            # WIQL has no continuation: a "next page" asks for more ids and skips the ones already fetched.
            already = int(token or 0)
            answer = self._json(
                "POST",
                self._project("_apis/wit/wiql"),
                params={"timePrecision": "true", "$top": already + limit},
                json={"query": self._wiql(cursor)},
            )
            ids = [ref["id"] for ref in answer.get("workItems", [])]
            page = ids[already : already + limit]
            more = len(ids) == already + limit
            return self._batch(page), str(already + limit) if more else None

        return watermark_walk(since_cursor, fetch)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        return self.work_item_record(self._json("GET", self._project(f"_apis/wit/workitems/{int(record_id)}")))

    @staticmethod
    def _patch(data: dict[str, Any]) -> list[dict[str, Any]]:
        operations = []
        for name in WRITABLE:
            if name not in data:
                continue
            value = data[name]
            if name == "tags" and isinstance(value, list):
                value = "; ".join(value)
            operations.append({"op": "add", "path": f"/fields/{FIELD_MAP[name]}", "value": value})
        return operations

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        item_type = data.get("work_item_type") or self.settings.get("work_item_type", "Task")
        item = self._json(
            "POST",
            self._project(f"_apis/wit/workitems/${quote(item_type)}"),
            content=json.dumps(self._patch(data)).encode(),
            headers={"Content-Type": "application/json-patch+json"},
        )
        return self.work_item_record(item)

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        item = self._json(
            "PATCH",
            self._project(f"_apis/wit/workitems/{int(record_id)}"),
            content=json.dumps(self._patch(data)).encode(),
            headers={"Content-Type": "application/json-patch+json"},
        )
        return self.work_item_record(item)

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self._json("DELETE", self._project(f"_apis/wit/workitems/{int(record_id)}"))

    # -- Actions ------------------------------------------------------------------------------------------

    def add_comment(self, payload: dict[str, Any]) -> dict[str, Any]:
        comment = self._json(
            "POST",
            self._project(f"_apis/wit/workItems/{payload['work_item_id']}/comments"),
            version=COMMENTS_API_VERSION,
            json={"text": payload["text"]},
        )
        return {"id": int(comment["id"])}

    def set_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.update("work_item", str(payload["work_item_id"]), {"state": payload["state"]})
        return {"id": int(record.id), "state": str(record.data["state"]), "rev": int(record.data["rev"] or 0)}

    # -- Service hooks ------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = require_secret(self.credentials.get("webhook_secret"))
        presented = request.header(self.settings.get("webhook_header", "X-NOFX-Webhook-Secret"))
        if not presented:
            raise WebhookRejected("missing_signature", "The delivery carries no shared-secret header.")
        if not hmac.compare_digest(secret.encode(), presented.encode()):
            raise WebhookRejected("bad_signature", "The shared secret does not match.")
        payload = request.json()
        if not isinstance(payload, dict) or payload.get("publisherId") != "tfs":
            raise WebhookRejected("malformed_body", "Not an Azure DevOps service-hook event.")
        return VerifiedWebhook(str(payload.get("id", "")), str(payload.get("eventType", "")))

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        event = str(payload.get("eventType", ""))
        resource = payload.get("resource") or {}
        item_id = resource.get("workItemId") if event == "workitem.updated" else resource.get("id")
        affected = []
        if event.startswith("workitem.") and item_id:
            affected.append(RecordRef("work_item", str(item_id), deleted=event == "workitem.deleted"))
        return WebhookEvent(event_type=event, affected=affected)
