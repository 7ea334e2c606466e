"""GitLab REST API v4: a project's issues, issue and merge-request notes, pipelines; webhooks.

Docs: https://docs.gitlab.com/api/ (issues, notes, pipelines). Changes are read with `updated_after`
(on or after) and `order_by=updated_at&sort=asc`; pages follow `X-Next-Page`. Webhooks are verified by
the signing token when the hook has one (Standard Webhooks: `webhook-signature: v1,<base64 HMAC>` over
`"{webhook-id}.{webhook-timestamp}.{body}"`, a signed timestamp) or else by the legacy secret token
in `X-Gitlab-Token` (a plain shared secret: replays are caught by delivery id and body only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from apps.connectors.authentication import Authenticator, HeaderToken
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
from apps.connectors.providers.signatures import check_shared_token, check_standard_webhook
from apps.connectors.timestamps import iso_utc_millis, parse_timestamp

ISSUE_SCHEMA = record_schema(
    "GitLab issue",
    {
        "iid": {"type": "integer"},
        "title": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["opened", "closed"]},
        "labels": {"type": "array", "items": {"type": "string"}},
        "assignees": {"type": "array", "items": {"type": "string"}},
        "author": {"type": ["string", "null"]},
        "notes_count": {"type": "integer"},
        "web_url": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
    },
    required=("title",),
    read_only=("iid", "author", "notes_count", "web_url", "created_at", "updated_at", "closed_at"),
)
NOTE_OUTPUT = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


def _note_input(field: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            field: {"type": "integer", "minimum": 1},
            "body": {"type": "string", "minLength": 1, "maxLength": 1000000},
        },
        "required": [field, "body"],
        "additionalProperties": False,
    }


class GitLabProvider(Provider):
    kind = "gitlab"
    title = "GitLab"
    default_base_url = "https://gitlab.com"
    settings_schema = {
        "type": "object",
        "properties": {
            "project": {"type": ["string", "integer"], "description": "The project's numeric id or full path."},
            "default_ref": {"type": "string", "minLength": 1, "default": "main"},
        },
        "required": ["project"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "minLength": 1, "description": "A personal, project or group access token."},
            "webhook_secret": {"type": "string", "minLength": 1, "description": "The hook's secret token."},
            "webhook_signing_key": {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]{20,}$"},
        },
        "required": ["token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType(
            "issue", "Issues", ISSUE_SCHEMA, id_field="iid", operations=("read", "get", "create", "update", "delete")
        ),
    )
    action_list = (
        ActionSpec(
            "comment_on_issue",
            "Comment on an issue",
            "Adds a note to an issue.",
            _note_input("issue_iid"),
            NOTE_OUTPUT,
            handler="comment_on_issue",
        ),
        ActionSpec(
            "comment_on_merge_request",
            "Comment on a merge request",
            "Adds a note to a merge request.",
            _note_input("merge_request_iid"),
            NOTE_OUTPUT,
            handler="comment_on_merge_request",
        ),
        ActionSpec(
            "trigger_pipeline",
            "Run a pipeline",
            "Starts a CI/CD pipeline on a branch or tag, with optional variables.",
            {
                "type": "object",
                "properties": {
                    "ref": {"type": "string", "minLength": 1},
                    "variables": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "status": {"type": "string"}, "web_url": {"type": "string"}},
                "required": ["id", "status", "web_url"],
            },
            handler="trigger_pipeline",
        ),
    )

    def authenticator(self) -> Authenticator:
        return HeaderToken("PRIVATE-TOKEN", self.credentials["token"])

    def _project(self, suffix: str = "") -> str:
        return f"/api/v4/projects/{quote(str(self.settings['project']), safe='')}{suffix}"

    def ping(self) -> None:
        self.http.request("GET", self._project())

    @staticmethod
    def issue_record(item: dict[str, Any]) -> Record:
        data = {
            "iid": item["iid"],
            "title": item.get("title"),
            "description": item.get("description"),
            "state": item.get("state"),
            "labels": list(item.get("labels") or []),
            "assignees": [person["username"] for person in item.get("assignees") or []],
            "author": (item.get("author") or {}).get("username"),
            "notes_count": item.get("user_notes_count", 0),
            "web_url": item.get("web_url"),
            "created_at": item.get("created_at"),
            "updated_at": item.get("updated_at"),
            "closed_at": item.get("closed_at"),
        }
        return Record("issue", str(item["iid"]), data, parse_timestamp(item.get("updated_at")))

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        per_page = min(page_size or self.default_page_size, 100)

        def fetch(cursor: Cursor, token: str | None) -> tuple[list[Record], str | None]:
            params: dict[str, Any] = {"order_by": "updated_at", "sort": "asc", "per_page": per_page, "page": token or 1}
            if cursor.watermark is not None:
                params["updated_after"] = iso_utc_millis(cursor.watermark)
            response = self.http.request("GET", self._project("/issues"), params=params)
            return [self.issue_record(item) for item in response.json()], response.headers.get("x-next-page") or None

        return watermark_walk(since_cursor, fetch)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        return self.issue_record(self.http.json("GET", self._project(f"/issues/{int(record_id)}")))

    @staticmethod
    def _payload(data: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {key: data[key] for key in ("title", "description") if key in data}
        if "labels" in data:
            payload["labels"] = ",".join(data["labels"] or [])
        if "state" in data:
            payload["state_event"] = "close" if data["state"] == "closed" else "reopen"
        return payload

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        payload = self._payload(data)
        closed = payload.pop("state_event", None) == "close"
        record = self.issue_record(self.http.json("POST", self._project("/issues"), json=payload))
        return self.update("issue", record.id, {"state": "closed"}) if closed else record

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        item = self.http.json("PUT", self._project(f"/issues/{int(record_id)}"), json=self._payload(data))
        return self.issue_record(item)

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self.http.request("DELETE", self._project(f"/issues/{int(record_id)}"))

    # -- Actions ------------------------------------------------------------------------------------------

    def _note(self, kind: str, iid: int, body: str) -> dict[str, Any]:
        note = self.http.json("POST", self._project(f"/{kind}/{iid}/notes"), json={"body": body})
        return {"id": int(note["id"])}

    def comment_on_issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._note("issues", payload["issue_iid"], payload["body"])

    def comment_on_merge_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._note("merge_requests", payload["merge_request_iid"], payload["body"])

    def trigger_pipeline(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = {
            "ref": payload.get("ref") or self.settings.get("default_ref", "main"),
            "variables": [
                {"key": k, "value": v, "variable_type": "env_var"} for k, v in payload.get("variables", {}).items()
            ],
        }
        pipeline = self.http.json("POST", self._project("/pipeline"), json=body)
        return {"id": int(pipeline["id"]), "status": str(pipeline["status"]), "web_url": str(pipeline["web_url"])}

    # -- Webhooks -----------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        credentials = self.credentials
        event = request.header("x-gitlab-event")
        delivery = (
            request.header("idempotency-key") or request.header("webhook-id") or request.header("x-gitlab-event-uuid")
        )
        if request.header("webhook-signature"):
            key = credentials.get("webhook_signing_key")
            if not key:
                raise WebhookRejected("not_configured", "The hook is signed but no signing key is configured.")
            signed_at = check_standard_webhook(
                secret=key,
                message_id=request.header("webhook-id"),
                timestamp=request.header("webhook-timestamp"),
                body=request.body,
                presented=request.header("webhook-signature"),
            )
            return VerifiedWebhook(delivery, event, signed_at=signed_at)
        if credentials.get("webhook_signing_key"):
            # Once a signing key is set, an unsigned delivery is not trusted on a token alone.
            raise WebhookRejected("missing_signature", "This connector expects signed deliveries.")
        secret = credentials.get("webhook_secret")
        if not secret:
            raise WebhookRejected("not_configured", "No webhook secret is configured for this connector.")
        check_shared_token(secret=secret, presented=request.header("x-gitlab-token"))
        return VerifiedWebhook(delivery, event)

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        kind = payload.get("object_kind")
        attributes = payload.get("object_attributes") or {}
        affected = []
        if kind == "issue" and attributes.get("iid"):
            affected.append(RecordRef("issue", str(attributes["iid"])))
        elif kind == "note" and (payload.get("issue") or {}).get("iid"):
            affected.append(RecordRef("issue", str(payload["issue"]["iid"])))
        action = attributes.get("action")
        return WebhookEvent(event_type=f"{kind}.{action}" if action else str(kind), affected=affected)
