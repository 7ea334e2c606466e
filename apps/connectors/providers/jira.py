"""Jira Cloud REST API v3: issues of one project, comments, transitions, sprints of a board; webhooks.

Docs: https://developer.atlassian.com/cloud/jira/platform/rest/v3/ (issue search via
`POST /rest/api/3/search/jql` with `nextPageToken`; the old `/search` is gone), the Jira Software REST
API for sprints, and admin webhooks signed with `X-Hub-Signature: sha256=<hex HMAC>`.

JQL compares dates in the *searching user's* time zone at minute precision, so the watermark is
converted to the time zone `/myself` reports and rounded down to the minute; records of that minute that
were returned before are dropped by the cursor.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.connectors.authentication import Authenticator, BasicAuth
from apps.connectors.errors import ConnectorError, InvalidRequest, NotSupported, WebhookRejected
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
from apps.connectors.providers.signatures import check_hex_hmac, require_secret
from apps.connectors.timestamps import parse_timestamp

logger = logging.getLogger(__name__)

ISSUE_FIELDS = ["summary", "description", "status", "issuetype", "priority", "labels", "assignee", "created", "updated"]

ISSUE_SCHEMA = record_schema(
    "Jira issue",
    {
        "id": {"type": "string"},
        "key": {"type": "string"},
        "summary": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"]},
        "status": {"type": "string", "description": "Status name; changing it runs the matching transition."},
        "status_category": {"type": "string", "enum": ["new", "indeterminate", "done"]},
        "issue_type": {"type": "string"},
        "priority": {"type": ["string", "null"]},
        "labels": {"type": "array", "items": {"type": "string", "pattern": r"^\S+$"}},
        "assignee_account_id": {"type": ["string", "null"]},
        "url": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
    },
    required=("summary",),
    read_only=("id", "key", "status_category", "url", "created", "updated"),
)
SPRINT_SCHEMA = record_schema(
    "Jira sprint",
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "state": {"type": "string", "enum": ["future", "active", "closed"]},
        "start_date": {"type": ["string", "null"], "format": "date-time"},
        "end_date": {"type": ["string", "null"], "format": "date-time"},
        "goal": {"type": ["string", "null"]},
    },
    read_only=("id", "name", "state", "start_date", "end_date", "goal"),
)


def text_to_adf(text: str | None) -> dict[str, Any] | None:
    """Plain text as an Atlassian Document Format document, one paragraph per line."""
    if text is None:
        return None
    paragraphs = []
    for line in text.split("\n"):
        paragraphs.append({"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_text(document: Any) -> str | None:
    """The text of an ADF document, paragraphs joined by new lines (marks and media dropped)."""
    if document is None:
        return None
    if isinstance(document, str):
        return document

    def text_of(node: dict[str, Any]) -> str:
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "hardBreak":
            return "\n"
        return "".join(text_of(child) for child in node.get("content", []))

    return "\n".join(text_of(block) for block in document.get("content", []))


class JiraProvider(Provider):
    kind = "jira"
    title = "Jira Cloud"
    default_base_url = ""
    settings_schema = {
        "type": "object",
        "properties": {
            "email": {
                "type": "string",
                "format": "email",
                "description": "The Atlassian account the API token belongs to.",
            },
            "project_key": {"type": "string", "pattern": r"^[A-Z][A-Z0-9_]{0,9}$"},
            "issue_type": {"type": "string", "minLength": 1, "default": "Task"},
            "board_id": {"type": "integer", "minimum": 1, "description": "The Scrum board whose sprints are read."},
        },
        "required": ["email", "project_key"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "api_token": {"type": "string", "minLength": 1},
            "webhook_secret": {"type": "string", "minLength": 1},
        },
        "required": ["api_token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType(
            "issue",
            "Issues",
            ISSUE_SCHEMA,
            updated_field="updated",
            operations=("read", "get", "create", "update", "delete"),
        ),
        ObjectType("sprint", "Sprints", SPRINT_SCHEMA, updated_field=None, incremental=False, operations=("read",)),
    )
    action_list = (
        ActionSpec(
            "add_comment",
            "Comment on an issue",
            "Adds a comment (plain text, sent as Atlassian Document Format).",
            {
                "type": "object",
                "properties": {"issue": {"type": "string", "minLength": 1}, "body": {"type": "string", "minLength": 1}},
                "required": ["issue", "body"],
                "additionalProperties": False,
            },
            {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            handler="add_comment",
        ),
        ActionSpec(
            "transition_issue",
            "Move an issue to a status",
            "Runs the workflow transition that leads to the named status.",
            {
                "type": "object",
                "properties": {
                    "issue": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "minLength": 1},
                },
                "required": ["issue", "status"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
                "required": ["id", "status"],
            },
            handler="transition_issue",
        ),
        ActionSpec(
            "create_issue",
            "Create an issue",
            "Creates an issue in the connector's project.",
            {
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": {"type": "string"},
                    "labels": {"type": "array", "items": {"type": "string", "pattern": r"^\S+$"}},
                },
                "required": ["summary"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "key": {"type": "string"}, "url": {"type": "string"}},
                "required": ["id", "key", "url"],
            },
            handler="create_issue",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._time_zone: ZoneInfo | None = None

    def authenticator(self) -> Authenticator:
        return BasicAuth(self.settings["email"], self.credentials["api_token"])

    def ping(self) -> None:
        self._myself()

    def _myself(self) -> dict[str, Any]:
        me: dict[str, Any] = self.http.json("GET", "/rest/api/3/myself")
        return me

    def user_time_zone(self) -> ZoneInfo:
        if self._time_zone is None:
            try:
                self._time_zone = ZoneInfo(self._myself().get("timeZone") or "UTC")
            except (ZoneInfoNotFoundError, ValueError):
                self._time_zone = ZoneInfo("UTC")
        return self._time_zone

    # -- Records ------------------------------------------------------------------------------------------

    def issue_record(self, item: dict[str, Any]) -> Record:
        fields = item.get("fields") or {}
        status = fields.get("status") or {}
        data = {
            "id": item["id"],
            "key": item.get("key"),
            "summary": fields.get("summary"),
            "description": adf_to_text(fields.get("description")),
            "status": status.get("name"),
            "status_category": (status.get("statusCategory") or {}).get("key"),
            "issue_type": (fields.get("issuetype") or {}).get("name"),
            "priority": (fields.get("priority") or {}).get("name"),
            "labels": fields.get("labels") or [],
            "assignee_account_id": (fields.get("assignee") or {}).get("accountId"),
            "url": f"{self.connection.base_url}/browse/{item.get('key')}",
            "created": fields.get("created"),
            "updated": fields.get("updated"),
        }
        return Record("issue", str(item["id"]), data, parse_timestamp(fields.get("updated")))

    @staticmethod
    def sprint_record(item: dict[str, Any]) -> Record:
        data = {
            "id": item["id"],
            "name": item.get("name"),
            "state": item.get("state"),
            "start_date": item.get("startDate"),
            "end_date": item.get("endDate"),
            "goal": item.get("goal"),
        }
        return Record("sprint", str(item["id"]), data, None)

    def _jql(self, cursor: Cursor) -> str:
        project = self.settings["project_key"]
        if cursor.watermark is None:
            return f"project = {project} ORDER BY updated ASC"
        local = cursor.watermark.astimezone(self.user_time_zone())
        return f'project = {project} AND updated >= "{local:%Y-%m-%d %H:%M}" ORDER BY updated ASC'

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        limit = min(page_size or self.default_page_size, 100)
        if object_type == "sprint":
            return self._read_sprints(since_cursor, limit)

        def fetch(cursor: Cursor, token: str | None) -> tuple[list[Record], str | None]:
            body: dict[str, Any] = {"jql": self._jql(cursor), "maxResults": limit, "fields": ISSUE_FIELDS}
            if token:
                body["nextPageToken"] = token
            page = self.http.json("POST", "/rest/api/3/search/jql", json=body)
            records = [self.issue_record(item) for item in page.get("issues", [])]
            return records, None if page.get("isLast", True) else page.get("nextPageToken")

        return watermark_walk(since_cursor, fetch)

    def _read_sprints(self, since_cursor: str | None, limit: int) -> ChangePage:
        board = self.settings.get("board_id")
        if not board:
            raise NotSupported("Set `board_id` to read sprints.")
        start = int(Cursor.decode(since_cursor).token or 0)
        page = self.http.json(
            "GET", f"/rest/agile/1.0/board/{int(board)}/sprint", params={"startAt": start, "maxResults": limit}
        )
        records = [self.sprint_record(item) for item in page.get("values", [])]
        if page.get("isLast", True):
            # Sprints have no change timestamp: the next run reads the board again from the start.
            return ChangePage(records, None, False)
        return ChangePage(records, Cursor(token=str(start + len(records))).encode(), True)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        item = self.http.json("GET", f"/rest/api/3/issue/{record_id}", params={"fields": ",".join(ISSUE_FIELDS)})
        return self.issue_record(item)

    def _fields(self, data: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if "summary" in data:
            fields["summary"] = data["summary"]
        if "description" in data:
            fields["description"] = text_to_adf(data["description"])
        if "labels" in data:
            fields["labels"] = data["labels"]
        if "priority" in data:
            fields["priority"] = {"name": data["priority"]} if data["priority"] else None
        if "assignee_account_id" in data:
            fields["assignee"] = {"accountId": data["assignee_account_id"]} if data["assignee_account_id"] else None
        if "issue_type" in data:
            fields["issuetype"] = {"name": data["issue_type"]}
        return fields

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        fields = {
            "project": {"key": self.settings["project_key"]},
            "issuetype": {"name": self.settings.get("issue_type", "Task")},
            **self._fields(data),
        }
        created = self.http.json("POST", "/rest/api/3/issue", json={"fields": fields})
        record = self.get("issue", created["id"])
        wanted = data.get("status")
        if not wanted or _same_status(wanted, record.data["status"]):
            # A new issue starts in its workflow's first status, and Jira offers no transition from a
            # status to itself: asking for that status is already satisfied.
            return record
        try:
            self._transition(record.id, wanted)
        except InvalidRequest:
            # Status is not a field Jira sets on create, so the issue exists already. Leaving it behind
            # would make the caller's retry create a second one: undo the create, then report.
            try:
                self.http.request("DELETE", f"/rest/api/3/issue/{record.id}")
            except ConnectorError:
                # The refusal is what the caller must see; the leftover issue is logged for a person.
                logger.warning("Could not delete Jira issue %s after its status could not be set.", record.id)
            raise
        return self.get("issue", record.id)

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        fields = self._fields(data)
        if fields:
            self.http.request("PUT", f"/rest/api/3/issue/{record_id}", json={"fields": fields})
        record = self.get("issue", record_id)
        if data.get("status") and not _same_status(data["status"], record.data["status"]):
            self._transition(record_id, data["status"])
            record = self.get("issue", record_id)
        return record

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self.http.request("DELETE", f"/rest/api/3/issue/{record_id}")

    def _transition(self, issue: str, status: str) -> None:
        options = self.http.json("GET", f"/rest/api/3/issue/{issue}/transitions").get("transitions", [])
        # The status a transition leads to decides; a transition's own name ("Start work") is only a
        # fallback, so a transition merely named like a status cannot win over one that reaches it.
        chosen = next((o for o in options if _same_status(status, (o.get("to") or {}).get("name"))), None)
        chosen = chosen or next((o for o in options if _same_status(status, o.get("name"))), None)
        if chosen is None:
            raise InvalidRequest(f"No transition of {issue} leads to the status {status!r}.", status=400)
        self.http.request("POST", f"/rest/api/3/issue/{issue}/transitions", json={"transition": {"id": chosen["id"]}})

    # -- Actions ------------------------------------------------------------------------------------------

    def add_comment(self, payload: dict[str, Any]) -> dict[str, Any]:
        comment = self.http.json(
            "POST", f"/rest/api/3/issue/{payload['issue']}/comment", json={"body": text_to_adf(payload["body"])}
        )
        return {"id": str(comment["id"])}

    def transition_issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._transition(payload["issue"], payload["status"])
        record = self.get("issue", payload["issue"])
        return {"id": record.id, "status": str(record.data["status"])}

    def create_issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.create("issue", payload)
        return {"id": record.id, "key": str(record.data["key"]), "url": str(record.data["url"])}

    # -- Webhooks -----------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = require_secret(self.credentials.get("webhook_secret"))
        check_hex_hmac(secret=secret, message=request.body, presented=request.header("x-hub-signature"))
        payload = request.json()
        if not isinstance(payload, dict) or "webhookEvent" not in payload:
            raise WebhookRejected("malformed_body", "Not a Jira webhook payload.")
        # The body's `timestamp` is covered by the signature, so it bounds replays.
        signed_at = parse_timestamp(payload.get("timestamp"))
        if signed_at is None:
            raise WebhookRejected("malformed_body", "The payload has no timestamp.")
        return VerifiedWebhook(
            request.header("x-atlassian-webhook-identifier"), str(payload["webhookEvent"]), signed_at=signed_at
        )

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        event = str(payload.get("webhookEvent", ""))
        issue = payload.get("issue") or {}
        affected = []
        if issue.get("id"):
            affected.append(RecordRef("issue", str(issue["id"]), deleted=event == "jira:issue_deleted"))
        return WebhookEvent(event_type=event, affected=affected)


def _same_status(wanted: str, current: object) -> bool:
    """Jira status names compare without regard to case or surrounding spaces (`done` is `Done`)."""
    return isinstance(current, str) and wanted.strip().casefold() == current.strip().casefold()
