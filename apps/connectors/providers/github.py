"""GitHub REST API: issues and issue comments of one repository, commit statuses, webhooks.

Docs: https://docs.github.com/rest (issues, issue comments, commit statuses), webhooks signed with
`X-Hub-Signature-256`. Incremental reads use `since` with `sort=updated&direction=asc`; pages follow the
`Link` header. `/issues` also lists pull requests (they carry `pull_request`); those are left out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from apps.connectors.authentication import Authenticator, BearerToken
from apps.connectors.errors import NotSupported, WebhookRejected
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
    WebhookReply,
    record_schema,
)
from apps.connectors.providers.cursors import Cursor, watermark_walk
from apps.connectors.providers.signatures import check_hex_hmac, require_secret
from apps.connectors.timestamps import iso_utc, parse_timestamp

API_VERSION = "2022-11-28"

ISSUE_SCHEMA = record_schema(
    "GitHub issue",
    {
        "number": {"type": "integer"},
        "title": {"type": "string", "minLength": 1, "maxLength": 256},
        "body": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "labels": {"type": "array", "items": {"type": "string"}},
        "assignees": {"type": "array", "items": {"type": "string"}},
        "author": {"type": ["string", "null"]},
        "comments": {"type": "integer"},
        "html_url": {"type": "string", "format": "uri"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
    },
    required=("title",),
    read_only=("number", "author", "comments", "html_url", "created_at", "updated_at", "closed_at"),
)
COMMENT_SCHEMA = record_schema(
    "GitHub issue comment",
    {
        "id": {"type": "integer"},
        "issue_number": {"type": "integer"},
        "body": {"type": "string", "minLength": 1},
        "author": {"type": ["string", "null"]},
        "html_url": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
    required=("issue_number", "body"),
    read_only=("id", "author", "html_url", "created_at", "updated_at"),
)
COMMENT_OUTPUT = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "url": {"type": "string"}},
    "required": ["id", "url"],
}


def _comment_input(number_field: str, title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            number_field: {"type": "integer", "minimum": 1, "description": title},
            "body": {"type": "string", "minLength": 1, "maxLength": 65536},
        },
        "required": [number_field, "body"],
        "additionalProperties": False,
    }


class GitHubProvider(Provider):
    kind = "github"
    title = "GitHub"
    default_base_url = "https://api.github.com"
    settings_schema = {
        "type": "object",
        "properties": {
            "owner": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.-]+$"},
            "repo": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.-]+$"},
        },
        "required": ["owner", "repo"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "token": {
                "type": "string",
                "minLength": 1,
                "description": "A fine-grained or classic personal access token.",
            },
            "webhook_secret": {"type": "string", "minLength": 1},
        },
        "required": ["token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType("issue", "Issues", ISSUE_SCHEMA, id_field="number", operations=("read", "get", "create", "update")),
        ObjectType(
            "issue_comment",
            "Issue and pull request comments",
            COMMENT_SCHEMA,
            operations=("read", "get", "create", "update", "delete"),
        ),
    )
    action_list = (
        ActionSpec(
            "comment_on_issue",
            "Comment on an issue",
            "Adds a comment to an issue of the repository.",
            _comment_input("issue_number", "The issue number."),
            COMMENT_OUTPUT,
            handler="comment_on_issue",
        ),
        ActionSpec(
            "comment_on_pull_request",
            "Comment on a pull request",
            "Adds a comment to a pull request's conversation.",
            _comment_input("pull_number", "The pull request number."),
            COMMENT_OUTPUT,
            handler="comment_on_pull_request",
        ),
        ActionSpec(
            "set_commit_status",
            "Set a commit status",
            "Marks a commit as pending, success, failure or error for a named check.",
            {
                "type": "object",
                "properties": {
                    "sha": {"type": "string", "pattern": "^[0-9a-f]{7,40}$"},
                    "state": {"type": "string", "enum": ["error", "failure", "pending", "success"]},
                    "context": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": {"type": "string", "maxLength": 140},
                    "target_url": {"type": "string", "format": "uri"},
                },
                "required": ["sha", "state", "context"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "state": {"type": "string"}, "context": {"type": "string"}},
                "required": ["id", "state", "context"],
            },
            handler="set_commit_status",
        ),
        ActionSpec(
            "close_issue",
            "Close an issue",
            "Closes an issue as completed or not planned.",
            {
                "type": "object",
                "properties": {
                    "issue_number": {"type": "integer", "minimum": 1},
                    "reason": {"type": "string", "enum": ["completed", "not_planned"]},
                },
                "required": ["issue_number"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"number": {"type": "integer"}, "state": {"type": "string"}},
                "required": ["number", "state"],
            },
            handler="close_issue",
        ),
    )

    def authenticator(self) -> Authenticator:
        return BearerToken(self.credentials["token"])

    def _repo(self, suffix: str = "") -> str:
        return f"/repos/{quote(self.settings['owner'], safe='')}/{quote(self.settings['repo'], safe='')}{suffix}"

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.json(method, path, headers=self._headers(), **kwargs)

    def ping(self) -> None:
        self._call("GET", self._repo())

    # -- Records ------------------------------------------------------------------------------------------

    @staticmethod
    def issue_record(item: dict[str, Any]) -> Record:
        data = {
            "number": item["number"],
            "title": item.get("title"),
            "body": item.get("body"),
            "state": item.get("state"),
            "labels": [label["name"] if isinstance(label, dict) else label for label in item.get("labels", [])],
            "assignees": [person["login"] for person in item.get("assignees", [])],
            "author": (item.get("user") or {}).get("login"),
            "comments": item.get("comments", 0),
            "html_url": item.get("html_url"),
            "created_at": item.get("created_at"),
            "updated_at": item.get("updated_at"),
            "closed_at": item.get("closed_at"),
        }
        return Record("issue", str(item["number"]), data, parse_timestamp(item.get("updated_at")))

    @staticmethod
    def comment_record(item: dict[str, Any]) -> Record:
        issue_url = item.get("issue_url") or ""
        number = issue_url.rsplit("/", 1)[-1]
        data = {
            "id": item["id"],
            "issue_number": int(number) if number.isdigit() else None,
            "body": item.get("body"),
            "author": (item.get("user") or {}).get("login"),
            "html_url": item.get("html_url"),
            "created_at": item.get("created_at"),
            "updated_at": item.get("updated_at"),
        }
        return Record("issue_comment", str(item["id"]), data, parse_timestamp(item.get("updated_at")))

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        per_page = min(page_size or self.default_page_size, 100)
        if object_type == "issue":
            path, params, convert = self._repo("/issues"), {"state": "all"}, self.issue_record
        else:
            path, params, convert = self._repo("/issues/comments"), {}, self.comment_record

        def fetch(cursor: Cursor, token: str | None) -> tuple[list[Record], str | None]:
            if token:
                response = self.http.request("GET", token, headers=self._headers())
            else:
                query: dict[str, Any] = {**params, "sort": "updated", "direction": "asc", "per_page": per_page}
                if cursor.watermark is not None:
                    query["since"] = iso_utc(cursor.watermark)
                response = self.http.request("GET", path, params=query, headers=self._headers())
            items = [item for item in response.json() if "pull_request" not in item]
            return [convert(item) for item in items], response.links.get("next", {}).get("url")

        return watermark_walk(since_cursor, fetch)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        if object_type == "issue":
            return self.issue_record(self._call("GET", self._repo(f"/issues/{int(record_id)}")))
        return self.comment_record(self._call("GET", self._repo(f"/issues/comments/{int(record_id)}")))

    @staticmethod
    def _issue_payload(data: dict[str, Any]) -> dict[str, Any]:
        return {key: data[key] for key in ("title", "body", "state", "labels", "assignees") if key in data}

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        if object_type == "issue":
            payload = self._issue_payload(data)
            state = payload.pop("state", "open")
            record = self.issue_record(self._call("POST", self._repo("/issues"), json=payload))
            if state == "closed":  # GitHub opens every new issue; closing is a second call
                record = self.update("issue", record.id, {"state": "closed"})
            return record
        number = int(data["issue_number"])
        item = self._call("POST", self._repo(f"/issues/{number}/comments"), json={"body": data["body"]})
        return self.comment_record(item)

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        if object_type == "issue":
            item = self._call("PATCH", self._repo(f"/issues/{int(record_id)}"), json=self._issue_payload(data))
            return self.issue_record(item)
        item = self._call("PATCH", self._repo(f"/issues/comments/{int(record_id)}"), json={"body": data["body"]})
        return self.comment_record(item)

    def delete(self, object_type: str, record_id: str) -> None:
        if object_type == "issue":
            raise NotSupported("GitHub's REST API cannot delete issues; close them instead.")
        self.object_type(object_type, "delete")
        self._call("DELETE", self._repo(f"/issues/comments/{int(record_id)}"))

    # -- Actions ------------------------------------------------------------------------------------------

    def _comment(self, number: int, body: str) -> dict[str, Any]:
        item = self._call("POST", self._repo(f"/issues/{number}/comments"), json={"body": body})
        return {"id": item["id"], "url": item["html_url"]}

    def comment_on_issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._comment(payload["issue_number"], payload["body"])

    def comment_on_pull_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        # A pull request's conversation comments are issue comments on the same number.
        return self._comment(payload["pull_number"], payload["body"])

    def set_commit_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = {k: payload[k] for k in ("state", "context", "description", "target_url") if k in payload}
        item = self._call("POST", self._repo(f"/statuses/{payload['sha']}"), json=body)
        return {"id": item["id"], "state": item["state"], "context": item["context"]}

    def close_issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = {"state": "closed", "state_reason": payload.get("reason", "completed")}
        item = self._call("PATCH", self._repo(f"/issues/{payload['issue_number']}"), json=body)
        return {"number": item["number"], "state": item["state"]}

    # -- Webhooks -----------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = require_secret(self.credentials.get("webhook_secret"))
        check_hex_hmac(secret=secret, message=request.body, presented=request.header("x-hub-signature-256"))
        event = request.header("x-github-event")
        if not event:
            raise WebhookRejected("malformed_body", "X-GitHub-Event is missing.")
        delivery = request.header("x-github-delivery")
        if event == "ping":
            return VerifiedWebhook(delivery, event, kind="challenge", reply=WebhookReply.json({"status": "pong"}))
        return VerifiedWebhook(delivery, event)

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        event = request.header("x-github-event")
        payload = request.json() or {}
        action = payload.get("action", "")
        affected: list[RecordRef] = []
        issue = payload.get("issue") or {}
        if event == "issues" and issue.get("number"):
            affected.append(RecordRef("issue", str(issue["number"]), deleted=action in ("deleted", "transferred")))
        elif event == "issue_comment" and payload.get("comment"):
            affected.append(RecordRef("issue_comment", str(payload["comment"]["id"]), deleted=action == "deleted"))
            if issue.get("number"):
                affected.append(RecordRef("issue", str(issue["number"])))
        return WebhookEvent(event_type=f"{event}.{action}" if action else event, affected=affected)
