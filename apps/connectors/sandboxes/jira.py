"""Jira Cloud REST API v3 (and the Jira Software agile API for sprints) for what the Jira provider uses.

Basic auth (email + API token), `POST /rest/api/3/search/jql` with `nextPageToken`/`isLast` and JQL
`project = X AND updated >= "yyyy-MM-dd HH:mm" ORDER BY updated ASC` read in the user's time zone,
issues with Atlassian Document Format descriptions, transitions, comments, `X-RateLimit-*` headers
(ISO 8601 reset) and 429 + `Retry-After`, webhooks signed with `X-Hub-Signature: sha256=...`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    respond,
    retry_after_text,
)

EMAIL = "integration@nofx.example"
API_TOKEN = "ATATT-sandbox-token-4f1c2b"  # noqa: S105 - the sandbox's own fake credential
PROJECT = "NOFX"
BOARD_ID = 7
WORKFLOW = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
JQL = re.compile(
    r'^project\s*=\s*"?(?P<project>[A-Z][A-Z0-9_]*)"?'
    r'(?:\s+AND\s+updated\s*>=\s*"(?P<since>\d{4}-\d{2}-\d{2} \d{2}:\d{2})")?'
    r"\s+ORDER BY updated ASC$",
    re.IGNORECASE,
)


def jira_time(moment: datetime) -> str:
    """Jira's own timestamp format: `2024-05-01T10:00:00.000+0000`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.split("\n")],
    }


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


class JiraSandbox(Sandbox):
    name = "jira"
    title = "Jira Cloud"
    default_port = 8703

    def __init__(self, port: int = 0, **kwargs: Any) -> None:
        self.user_time_zone = "UTC"
        super().__init__(port, **kwargs)

    def reset_data(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.next_id = 10000
        self.sprints = [
            {
                "id": 100 + n,
                "state": state,
                "name": f"NOFX Sprint {n}",
                "startDate": jira_time(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(weeks=2 * n)),
                "endDate": jira_time(datetime(2026, 1, 15, tzinfo=UTC) + timedelta(weeks=2 * n)),
                "originBoardId": BOARD_ID,
                "goal": f"Goal {n}",
            }
            for n, state in enumerate(["closed", "closed", "closed", "active", "future"], start=1)
        ]

    # -- Data ---------------------------------------------------------------------------------------------

    def add_issue(self, summary: str, *, updated: datetime | None = None, description: str = "") -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            stamp = jira_time(updated or self.now())
            issue: dict[str, Any] = {
                "id": str(self.next_id),
                "key": f"{PROJECT}-{self.next_id - 10000}",
                "fields": {
                    "summary": summary,
                    "description": adf(description) if description else None,
                    "status": {"name": "To Do", "statusCategory": {"key": "new"}},
                    "issuetype": {"name": "Task"},
                    "priority": {"name": "Medium"},
                    "labels": [],
                    "assignee": None,
                    "project": {"key": PROJECT},
                    "created": stamp,
                    "updated": stamp,
                },
            }
            self.issues[issue["id"]] = issue
            return issue

    def seed_issues(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.add_issue(f"Seeded issue {i}", updated=start + step * i, description=f"Body {i}")

    def touch_issue(self, issue_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            issue = self.issues[issue_id]
            issue["fields"].update(fields)
            issue["fields"]["updated"] = jira_time(self.now())
            return issue

    def _public(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {**issue, "self": f"{self.url}/rest/api/3/issue/{issue['id']}"}

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        issue = r"/rest/api/3/issue/(?P<key>[A-Z0-9-]+)"
        return [
            ("GET", "/rest/api/3/myself", self.myself),
            ("POST", "/rest/api/3/search/jql", self.search),
            (
                "GET",
                "/rest/api/3/search",
                lambda r: respond({"errorMessages": ["This endpoint has been removed."]}, 410),
            ),
            ("POST", "/rest/api/3/issue", self.create_issue),
            ("GET", issue, self.get_issue),
            ("PUT", issue, self.edit_issue),
            ("DELETE", issue, self.delete_issue),
            ("POST", issue + "/comment", self.add_comment),
            ("GET", issue + "/transitions", self.transitions),
            ("POST", issue + "/transitions", self.do_transition),
            ("GET", r"/rest/agile/1.0/board/(?P<board>\d+)/sprint", self.board_sprints),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        scheme, _, encoded = request.header("authorization").partition(" ")
        if scheme == "Basic":
            try:
                user, _, token = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                user, token = "", ""
            if user == EMAIL and token == API_TOKEN:
                return None
        return respond({"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}, 401)

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        reset = datetime.fromtimestamp(reset_at, tz=UTC)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.") + f"{reset.microsecond // 1000:03d}Z",
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            {"errorMessages": ["Rate limit exceeded."]},
            429,
            {"Retry-After": retry_after_text(retry_after), "RateLimit-Reason": "jira-burst-based"},
        )

    def myself(self, request: SandboxRequest) -> SandboxResponse:
        return respond(
            {
                "accountId": "5b10ac8d82e05b22cc7d4ef5",
                "emailAddress": EMAIL,
                "timeZone": self.user_time_zone,
                "active": True,
            }
        )

    def search(self, request: SandboxRequest) -> SandboxResponse:
        payload = request.json() or {}
        match = JQL.match(str(payload.get("jql", "")).strip())
        if match is None:
            return respond({"errorMessages": ["Error in the JQL Query."], "errors": {}}, 400)
        items = [i for i in self.issues.values() if i["fields"]["project"]["key"] == match["project"].upper()]
        if match["since"]:
            # JQL dates are in the searching user's time zone, at minute precision.
            local = datetime.strptime(match["since"], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(self.user_time_zone))
            items = [i for i in items if _parse(i["fields"]["updated"]) >= local]
        items.sort(key=lambda i: (i["fields"]["updated"], int(i["id"])))
        limit = min(int(payload.get("maxResults") or 50), 100)
        start = int(base64.urlsafe_b64decode(payload["nextPageToken"]).decode()) if payload.get("nextPageToken") else 0
        chunk = items[start : start + limit]
        body: dict[str, Any] = {"issues": [self._public(i) for i in chunk], "isLast": start + limit >= len(items)}
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return respond(body)

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.issues.get(key) or next((i for i in self.issues.values() if i["key"] == key), None)

    def get_issue(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        return respond(self._public(issue))

    def _apply(self, issue: dict[str, Any], fields: dict[str, Any]) -> SandboxResponse | None:
        if "summary" in fields and not fields["summary"]:
            return respond(
                {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}, 400
            )
        for name in ("summary", "description", "labels", "priority", "assignee", "issuetype"):
            if name in fields:
                issue["fields"][name] = fields[name]
        issue["fields"]["updated"] = jira_time(self.now())
        return None

    def create_issue(self, request: SandboxRequest) -> SandboxResponse:
        fields = (request.json() or {}).get("fields") or {}
        if (fields.get("project") or {}).get("key") != PROJECT:
            return respond({"errorMessages": [], "errors": {"project": "valid project is required"}}, 400)
        if not fields.get("summary"):
            return respond(
                {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}, 400
            )
        issue = self.add_issue(fields["summary"])
        self._apply(issue, fields)
        return respond({"id": issue["id"], "key": issue["key"], "self": self._public(issue)["self"]}, 201)

    def edit_issue(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        denied = self._apply(issue, (request.json() or {}).get("fields") or {})
        return denied or respond(None, 204)

    def delete_issue(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        del self.issues[issue["id"]]
        return respond(None, 204)

    def add_comment(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        self.next_id += 1
        stamp = jira_time(self.now())
        comment = {
            "id": str(self.next_id),
            "issueId": issue["id"],
            "body": (request.json() or {}).get("body"),
            "created": stamp,
            "updated": stamp,
        }
        self.comments.append(comment)
        issue["fields"]["updated"] = stamp
        return respond(comment, 201)

    def transitions(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        return respond(
            {
                "transitions": [
                    {"id": str(n), "name": f"Move to {name}", "to": {"name": name, "statusCategory": {"key": category}}}
                    for n, (name, category) in enumerate(WORKFLOW.items(), start=11)
                    if name != issue["fields"]["status"]["name"]
                ]
            }
        )

    def do_transition(self, request: SandboxRequest, key: str) -> SandboxResponse:
        issue = self._find(key)
        if issue is None:
            return respond({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        wanted = ((request.json() or {}).get("transition") or {}).get("id")
        for n, (name, category) in enumerate(WORKFLOW.items(), start=11):
            if str(n) == str(wanted) and name != issue["fields"]["status"]["name"]:
                issue["fields"]["status"] = {"name": name, "statusCategory": {"key": category}}
                issue["fields"]["updated"] = jira_time(self.now())
                return respond(None, 204)
        return respond({"errorMessages": ["Transition id is not valid for this issue."]}, 400)

    def board_sprints(self, request: SandboxRequest, board: str) -> SandboxResponse:
        if int(board) != BOARD_ID:
            return respond({"errorMessages": ["Board does not exist."]}, 404)
        start, limit = request.int_arg("startAt", 0), min(request.int_arg("maxResults", 50), 50)
        chunk = self.sprints[start : start + limit]
        return respond(
            {"maxResults": limit, "startAt": start, "isLast": start + limit >= len(self.sprints), "values": chunk}
        )

    # -- Webhooks -----------------------------------------------------------------------------------------

    def signed_webhook(self, event: str, issue_id: str, secret: str, *, sent_at: datetime | None = None) -> WebhookCall:
        issue = self.issues.get(issue_id, {"id": issue_id, "key": f"{PROJECT}-0", "fields": {}})
        body = json.dumps(
            {
                "timestamp": int((sent_at or self.now()).timestamp() * 1000),
                "webhookEvent": event,
                "issue_event_type_name": "issue_generic",
                "issue": self._public(issue) if self._server else issue,
                "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
            }
        ).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        self.next_id += 1
        return WebhookCall(
            headers={
                "Content-Type": "application/json",
                "X-Atlassian-Webhook-Identifier": str(self.next_id),
                "X-Hub-Signature": f"sha256={signature}",
            },
            body=body,
        )

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {
            "provider": "jira",
            "settings": {"email": EMAIL, "project_key": PROJECT, "board_id": BOARD_ID},
            "credentials": {"api_token": API_TOKEN},
        }

    def seed_demo(self) -> None:
        self.seed_issues(4, start=self.now() - timedelta(days=2), step=timedelta(hours=3))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        issue = next(iter(self.issues.values()), None) or self.add_issue("Demo issue")
        self.touch_issue(
            issue["id"], summary=f"{issue['fields']['summary'].split(' (')[0]} (edited {self.now():%H:%M:%S})"
        )
        return self.signed_webhook("jira:issue_updated", issue["id"], secret)
