"""GitHub REST API (api.github.com) for what the GitHub provider uses.

Bearer (or `token`) authentication, `Link` pagination with `per_page`/`page`, `since` + `sort=updated`
on issues and issue comments, `x-ratelimit-*` headers (epoch reset), secondary limits as 403/429 with
`retry-after`, 422 validation errors, and webhooks signed with `X-Hub-Signature-256`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    link_header,
    respond,
    retry_after_text,
)
from apps.connectors.timestamps import iso_utc, parse_timestamp

OWNER, REPO = "nofx-demo", "integrations"
TOKEN = "ghp_sandbox_token_0123456789abcdefghijkl"  # noqa: S105 - the sandbox's own fake credential


class GitHubSandbox(Sandbox):
    name = "github"
    title = "GitHub"
    default_port = 8701

    def __init__(self, port: int = 0, **kwargs: Any) -> None:
        self.tokens = {TOKEN}
        super().__init__(port, **kwargs)

    def reset_data(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.next_number = 1
        self.next_id = 1000

    # -- Data ---------------------------------------------------------------------------------------------

    def _stamp(self, moment: datetime | None = None) -> str:
        return iso_utc(moment or self.now())

    def add_issue(
        self, title: str, *, body: str = "", updated: datetime | None = None, pull_request: bool = False, **extra: Any
    ) -> dict[str, Any]:
        with self.lock:
            number = self.next_number
            self.next_number += 1
            self.next_id += 1
            stamp = self._stamp(updated)
            issue = {
                "id": self.next_id,
                "node_id": f"I_{self.next_id}",
                "number": number,
                "title": title,
                "body": body,
                "state": "open",
                "state_reason": None,
                "labels": [],
                "assignees": [],
                "user": {"login": "octo-sandbox", "id": 1},
                "comments": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": None,
                "url": f"{self._api()}/repos/{OWNER}/{REPO}/issues/{number}",
                "html_url": f"https://github.com/{OWNER}/{REPO}/{'pull' if pull_request else 'issues'}/{number}",
            }
            if pull_request:
                issue["pull_request"] = {"url": f"{self._api()}/repos/{OWNER}/{REPO}/pulls/{number}"}
            issue.update(extra)
            self.issues[number] = issue
            return issue

    def seed_issues(
        self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)
    ) -> list[dict[str, Any]]:
        return [self.add_issue(f"Seeded issue {i}", body=f"Body {i}", updated=start + step * i) for i in range(count)]

    def touch_issue(self, number: int, **changes: Any) -> dict[str, Any]:
        """Change an issue as a person on GitHub would (moves its `updated_at`)."""
        with self.lock:
            issue = self.issues[number]
            issue.update(changes)
            issue["updated_at"] = self._stamp()
            return issue

    def _api(self) -> str:
        return self.url if self._server is not None else "https://api.github.com"

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        return [
            ("GET", "/user", self.get_user),
            ("GET", repo, self.get_repo),
            ("GET", repo + "/issues", self.list_issues),
            ("POST", repo + "/issues", self.create_issue),
            ("GET", repo + r"/issues/comments", self.list_comments),
            ("PATCH", repo + r"/issues/comments/(?P<comment_id>\d+)", self.update_comment),
            ("DELETE", repo + r"/issues/comments/(?P<comment_id>\d+)", self.delete_comment),
            ("GET", repo + r"/issues/(?P<number>\d+)", self.get_issue),
            ("PATCH", repo + r"/issues/(?P<number>\d+)", self.update_issue),
            ("POST", repo + r"/issues/(?P<number>\d+)/comments", self.create_comment),
            ("POST", repo + r"/statuses/(?P<sha>[0-9a-f]{7,40})", self.create_status),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        value = request.header("authorization")
        scheme, _, token = value.partition(" ")
        if scheme.lower() in ("bearer", "token") and token in self.tokens:
            return None
        return respond(
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}, 401
        )

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(limit - remaining),
            "x-ratelimit-reset": str(math.ceil(reset_at)),
            "x-ratelimit-resource": "core",
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
            429,
            {"retry-after": retry_after_text(retry_after)},
        )

    def _repo_ok(self, owner: str, repo: str) -> SandboxResponse | None:
        if (owner, repo) != (OWNER, REPO):
            return respond({"message": "Not Found"}, 404)
        return None

    def get_user(self, request: SandboxRequest) -> SandboxResponse:
        return respond({"login": "octo-sandbox", "id": 1, "type": "User"})

    def get_repo(self, request: SandboxRequest, owner: str, repo: str) -> SandboxResponse:
        return self._repo_ok(owner, repo) or respond(
            {"id": 42, "name": REPO, "full_name": f"{OWNER}/{REPO}", "private": True, "default_branch": "main"}
        )

    def _paginate(self, request: SandboxRequest, items: list[dict[str, Any]]) -> SandboxResponse:
        per_page = min(max(request.int_arg("per_page", 30), 1), 100)
        page = max(request.int_arg("page", 1), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(math.ceil(len(items) / per_page), 1)
        links: dict[str, str] = {}

        def page_url(number: int) -> str:
            query = {k: v[-1] for k, v in request.query.items()}
            query.update(page=str(number), per_page=str(per_page))
            return f"{self.url}{request.path}?" + "&".join(f"{k}={v}" for k, v in query.items())

        if page < last:
            links["next"] = page_url(page + 1)
            links["last"] = page_url(last)
        if page > 1:
            links["prev"] = page_url(page - 1)
            links["first"] = page_url(1)
        return respond(chunk, headers={"Link": link_header(links)} if links else {})

    def _since_sorted(self, request: SandboxRequest, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        since = parse_timestamp(request.arg("since"))
        if since is not None:
            items = [i for i in items if parse_timestamp(i["updated_at"]) >= since]  # type: ignore[operator]
        key = "updated_at" if request.arg("sort", "created") == "updated" else "created_at"
        reverse = request.arg("direction", "desc") == "desc"
        return sorted(items, key=lambda i: (i[key], i["id"]), reverse=reverse)

    def list_issues(self, request: SandboxRequest, owner: str, repo: str) -> SandboxResponse:
        denied = self._repo_ok(owner, repo)
        if denied:
            return denied
        state = request.arg("state", "open")
        items = [i for i in self.issues.values() if state == "all" or i["state"] == state]
        return self._paginate(request, self._since_sorted(request, items))

    def get_issue(self, request: SandboxRequest, owner: str, repo: str, number: str) -> SandboxResponse:
        issue = self.issues.get(int(number))
        return self._repo_ok(owner, repo) or (respond(issue) if issue else respond({"message": "Not Found"}, 404))

    def _validation_failed(self, field_name: str) -> SandboxResponse:
        return respond(
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": field_name}],
            },
            422,
        )

    def create_issue(self, request: SandboxRequest, owner: str, repo: str) -> SandboxResponse:
        payload = request.json() or {}
        if not payload.get("title"):
            return self._validation_failed("title")
        issue = self.add_issue(payload["title"], body=payload.get("body") or "")
        issue["labels"] = [
            {"id": n, "name": name, "color": "ededed"} for n, name in enumerate(payload.get("labels", []))
        ]
        issue["assignees"] = [{"login": login, "id": n} for n, login in enumerate(payload.get("assignees", []))]
        return respond(issue, 201)

    def update_issue(self, request: SandboxRequest, owner: str, repo: str, number: str) -> SandboxResponse:
        issue = self.issues.get(int(number))
        if issue is None:
            return respond({"message": "Not Found"}, 404)
        payload = request.json() or {}
        if "title" in payload and not payload["title"]:
            return self._validation_failed("title")
        for key in ("title", "body", "state_reason"):
            if key in payload:
                issue[key] = payload[key]
        if "state" in payload:
            if payload["state"] not in ("open", "closed"):
                return self._validation_failed("state")
            issue["state"] = payload["state"]
            issue["closed_at"] = self._stamp() if payload["state"] == "closed" else None
        if "labels" in payload:
            issue["labels"] = [{"id": n, "name": name, "color": "ededed"} for n, name in enumerate(payload["labels"])]
        if "assignees" in payload:
            issue["assignees"] = [{"login": login, "id": n} for n, login in enumerate(payload["assignees"])]
        issue["updated_at"] = self._stamp()
        return respond(issue)

    def _comment(self, number: int, body: str) -> dict[str, Any]:
        self.next_id += 1
        stamp = self._stamp()
        comment: dict[str, Any] = {
            "id": self.next_id,
            "body": body,
            "user": {"login": "octo-sandbox", "id": 1},
            "created_at": stamp,
            "updated_at": stamp,
            "issue_url": f"{self._api()}/repos/{OWNER}/{REPO}/issues/{number}",
            "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{number}#issuecomment-{self.next_id}",
        }
        self.comments[self.next_id] = comment
        return comment

    def create_comment(self, request: SandboxRequest, owner: str, repo: str, number: str) -> SandboxResponse:
        issue = self.issues.get(int(number))
        if issue is None:
            return respond({"message": "Not Found"}, 404)
        payload = request.json() or {}
        if not payload.get("body"):
            return self._validation_failed("body")
        issue["comments"] += 1
        issue["updated_at"] = self._stamp()
        return respond(self._comment(int(number), payload["body"]), 201)

    def list_comments(self, request: SandboxRequest, owner: str, repo: str) -> SandboxResponse:
        return self._paginate(request, self._since_sorted(request, list(self.comments.values())))

    def update_comment(self, request: SandboxRequest, owner: str, repo: str, comment_id: str) -> SandboxResponse:
        comment = self.comments.get(int(comment_id))
        if comment is None:
            return respond({"message": "Not Found"}, 404)
        comment["body"] = (request.json() or {}).get("body", comment["body"])
        comment["updated_at"] = self._stamp()
        return respond(comment)

    def delete_comment(self, request: SandboxRequest, owner: str, repo: str, comment_id: str) -> SandboxResponse:
        if self.comments.pop(int(comment_id), None) is None:
            return respond({"message": "Not Found"}, 404)
        return respond(None, 204)

    def create_status(self, request: SandboxRequest, owner: str, repo: str, sha: str) -> SandboxResponse:
        payload = request.json() or {}
        if payload.get("state") not in ("error", "failure", "pending", "success"):
            return self._validation_failed("state")
        self.next_id += 1
        status = {
            "id": self.next_id,
            "state": payload["state"],
            "context": payload.get("context", "default"),
            "description": payload.get("description"),
            "target_url": payload.get("target_url"),
            "sha": sha,
            "created_at": self._stamp(),
        }
        self.statuses.append(status)
        return respond(status, 201)

    # -- Webhooks -----------------------------------------------------------------------------------------

    def signed_webhook(
        self, event: str, payload: dict[str, Any], secret: str, delivery: str | None = None
    ) -> WebhookCall:
        body = json.dumps(payload).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return WebhookCall(
            headers={
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/sandbox",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                "X-GitHub-Hook-ID": "1",
                "X-Hub-Signature-256": f"sha256={signature}",
            },
            body=body,
        )

    def issue_event(self, number: int, action: str = "edited") -> dict[str, Any]:
        return {
            "action": action,
            "issue": self.issues.get(number, {"number": number}),
            "repository": {"full_name": f"{OWNER}/{REPO}", "name": REPO, "owner": {"login": OWNER}},
            "sender": {"login": "octo-sandbox"},
        }

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {"provider": "github", "settings": {"owner": OWNER, "repo": REPO}, "credentials": {"token": TOKEN}}

    def seed_demo(self) -> None:
        start = self.now() - timedelta(days=3)
        for n, title in enumerate(["Checkout fails on Safari", "Add SSO to the admin", "Upgrade to Django 5.2"]):
            self.add_issue(title, body="Reported by a customer.", updated=start + timedelta(hours=n))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        issue = self.add_issue(f"Demo issue {self.next_number}", body="Opened by the sandbox.")
        return self.signed_webhook("issues", self.issue_event(issue["number"], "opened"), secret)
