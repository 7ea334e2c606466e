"""GitLab REST API v4 for a project's issues, notes and pipelines.

`PRIVATE-TOKEN` (or Bearer) authentication, offset pagination with `page`/`per_page` and the
`X-Next-Page`/`X-Total` headers (plus `Link`), `updated_after` + `order_by=updated_at&sort=asc`,
`RateLimit-*` headers and 429 + `Retry-After`, and webhooks carrying either the legacy `X-Gitlab-Token`
or the signing-token headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
"""

from __future__ import annotations

import json
import math
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

from apps.connectors.providers.signatures import standard_webhook_signature
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
from apps.connectors.timestamps import iso_utc_millis, parse_timestamp

PROJECT_ID, PROJECT_PATH = 4242, "nofx-demo/integrations"
TOKEN = "glpat-sandbox-2f8d9c1b7a6e5d4c"  # noqa: S105 - the sandbox's own fake credential


class GitLabSandbox(Sandbox):
    name = "gitlab"
    title = "GitLab"
    default_port = 8702

    def reset_data(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = []
        self.next_iid = 1
        self.next_id = 5000

    # -- Data ---------------------------------------------------------------------------------------------

    def _web(self, kind: str, iid: int) -> str:
        return f"https://gitlab.example/{PROJECT_PATH}/-/{kind}/{iid}"

    def add_issue(self, title: str, *, updated: datetime | None = None, description: str = "") -> dict[str, Any]:
        with self.lock:
            iid = self.next_iid
            self.next_iid += 1
            self.next_id += 1
            stamp = iso_utc_millis(updated or self.now())
            issue = {
                "id": self.next_id,
                "iid": iid,
                "project_id": PROJECT_ID,
                "title": title,
                "description": description,
                "state": "opened",
                "labels": [],
                "assignees": [],
                "author": {"id": 1, "username": "sandbox-bot"},
                "user_notes_count": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": None,
                "web_url": self._web("issues", iid),
            }
            self.issues[iid] = issue
            return issue

    def seed_issues(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.add_issue(f"Seeded issue {i}", updated=start + step * i, description=f"Body {i}")

    def touch_issue(self, iid: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            issue = self.issues[iid]
            issue.update(changes)
            issue["updated_at"] = iso_utc_millis(self.now())
            return issue

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/api/v4/projects/(?P<project>[^/]+)"
        return [
            ("GET", project, self.get_project),
            ("GET", project + "/issues", self.list_issues),
            ("POST", project + "/issues", self.create_issue),
            ("GET", project + r"/issues/(?P<iid>\d+)", self.get_issue),
            ("PUT", project + r"/issues/(?P<iid>\d+)", self.update_issue),
            ("DELETE", project + r"/issues/(?P<iid>\d+)", self.delete_issue),
            ("POST", project + r"/(?P<kind>issues|merge_requests)/(?P<iid>\d+)/notes", self.create_note),
            ("POST", project + "/pipeline", self.create_pipeline),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        bearer = request.header("authorization").removeprefix("Bearer ")
        if TOKEN in (request.header("private-token"), bearer):
            return None
        return respond({"message": "401 Unauthorized"}, 401)

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(limit - remaining),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(math.ceil(reset_at)),
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond("Retry later", 429, {"Retry-After": retry_after_text(retry_after)})

    def _project_ok(self, project: str) -> SandboxResponse | None:
        if unquote(project) not in (str(PROJECT_ID), PROJECT_PATH):
            return respond({"message": "404 Project Not Found"}, 404)
        return None

    def get_project(self, request: SandboxRequest, project: str) -> SandboxResponse:
        return self._project_ok(project) or respond(
            {"id": PROJECT_ID, "path_with_namespace": PROJECT_PATH, "default_branch": "main"}
        )

    def list_issues(self, request: SandboxRequest, project: str) -> SandboxResponse:
        denied = self._project_ok(project)
        if denied:
            return denied
        items = list(self.issues.values())
        since = parse_timestamp(request.arg("updated_after"))
        if since is not None:
            items = [i for i in items if parse_timestamp(i["updated_at"]) >= since]  # type: ignore[operator]
        key = request.arg("order_by") or "created_at"
        items.sort(key=lambda i: (i[key], i["id"]), reverse=request.arg("sort", "desc") == "desc")
        per_page = min(max(request.int_arg("per_page", 20), 1), 100)
        page = max(request.int_arg("page", 1), 1)
        pages = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]

        def url(number: int) -> str:
            query = {k: v[-1] for k, v in request.query.items()} | {"page": str(number), "per_page": str(per_page)}
            return f"{self.url}{request.path}?{urlencode(query)}"

        links = {"first": url(1), "last": url(pages)}
        if page < pages:
            links["next"] = url(page + 1)
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "Link": link_header(links),
        }
        return respond(chunk, headers=headers)

    def get_issue(self, request: SandboxRequest, project: str, iid: str) -> SandboxResponse:
        issue = self.issues.get(int(iid))
        return self._project_ok(project) or (respond(issue) if issue else respond({"message": "404 Not found"}, 404))

    @staticmethod
    def _labels(value: Any) -> list[str]:
        if isinstance(value, list):
            return [str(v) for v in value]
        return [part.strip() for part in str(value or "").split(",") if part.strip()]

    def create_issue(self, request: SandboxRequest, project: str) -> SandboxResponse:
        payload = request.json() or {}
        if not payload.get("title"):
            return respond({"message": {"title": ["can't be blank"]}}, 400)
        issue = self.add_issue(payload["title"], description=payload.get("description") or "")
        issue["labels"] = self._labels(payload.get("labels"))
        return respond(issue, 201)

    def update_issue(self, request: SandboxRequest, project: str, iid: str) -> SandboxResponse:
        issue = self.issues.get(int(iid))
        if issue is None:
            return respond({"message": "404 Not found"}, 404)
        payload = request.json() or {}
        if "title" in payload and not payload["title"]:
            return respond({"message": {"title": ["can't be blank"]}}, 400)
        for key in ("title", "description"):
            if key in payload:
                issue[key] = payload[key]
        if "labels" in payload:
            issue["labels"] = self._labels(payload["labels"])
        event = payload.get("state_event")
        if event == "close":
            issue["state"], issue["closed_at"] = "closed", iso_utc_millis(self.now())
        elif event == "reopen":
            issue["state"], issue["closed_at"] = "opened", None
        issue["updated_at"] = iso_utc_millis(self.now())
        return respond(issue)

    def delete_issue(self, request: SandboxRequest, project: str, iid: str) -> SandboxResponse:
        if self.issues.pop(int(iid), None) is None:
            return respond({"message": "404 Not found"}, 404)
        return respond(None, 204)

    def create_note(self, request: SandboxRequest, project: str, kind: str, iid: str) -> SandboxResponse:
        if kind == "issues" and int(iid) not in self.issues:
            return respond({"message": "404 Not found"}, 404)
        body = (request.json() or {}).get("body")
        if not body:
            return respond({"message": {"note": ["can't be blank"]}}, 400)
        self.next_id += 1
        note = {
            "id": self.next_id,
            "body": body,
            "noteable_type": "Issue" if kind == "issues" else "MergeRequest",
            "noteable_iid": int(iid),
            "author": {"username": "sandbox-bot"},
            "created_at": iso_utc_millis(self.now()),
        }
        self.notes.append(note)
        return respond(note, 201)

    def create_pipeline(self, request: SandboxRequest, project: str) -> SandboxResponse:
        payload = request.json() or {}
        ref = payload.get("ref") or request.arg("ref")
        if not ref:
            return respond({"message": {"base": ["Reference not found"]}}, 400)
        self.next_id += 1
        pipeline = {
            "id": self.next_id,
            "iid": len(self.pipelines) + 1,
            "status": "created",
            "ref": ref,
            "sha": secrets.token_hex(20),
            "variables": payload.get("variables", []),
            "web_url": f"https://gitlab.example/{PROJECT_PATH}/-/pipelines/{self.next_id}",
        }
        self.pipelines.append(pipeline)
        return respond({k: v for k, v in pipeline.items() if k != "variables"}, 201)

    # -- Webhooks -----------------------------------------------------------------------------------------

    def issue_hook_body(self, iid: int, action: str = "update") -> bytes:
        issue = self.issues.get(iid, {"iid": iid, "id": 0})
        return json.dumps(
            {
                "object_kind": "issue",
                "event_type": "issue",
                "user": {"username": "sandbox-bot"},
                "project": {"id": PROJECT_ID, "path_with_namespace": PROJECT_PATH},
                "object_attributes": {**issue, "action": action},
            }
        ).encode()

    def _headers(self, event: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Webhook-UUID": str(uuid.UUID(int=11)),
            "X-Gitlab-Instance": "https://gitlab.example",
            "Idempotency-Key": str(uuid.uuid4()),
        }

    def token_webhook(self, body: bytes, token: str, event: str = "Issue Hook") -> WebhookCall:
        """A delivery of a hook configured with a (legacy) secret token."""
        return WebhookCall(headers={**self._headers(event), "X-Gitlab-Token": token}, body=body)

    def signed_webhook(
        self, body: bytes, signing_key: str, *, sent_at: datetime | None = None, event: str = "Issue Hook"
    ) -> WebhookCall:
        """A delivery of a hook with a signing token (Standard Webhooks headers)."""
        headers = self._headers(event)
        message_id = "msg_" + uuid.uuid4().hex
        timestamp = str(int((sent_at or self.now()).timestamp()))
        headers.update(
            {
                "webhook-id": message_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": standard_webhook_signature(
                    secret=signing_key, message_id=message_id, timestamp=timestamp, body=body
                ),
            }
        )
        return WebhookCall(headers=headers, body=body)

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {"provider": "gitlab", "settings": {"project": PROJECT_PATH}, "credentials": {"token": TOKEN}}

    def seed_demo(self) -> None:
        self.seed_issues(3, start=self.now() - timedelta(days=2), step=timedelta(hours=2))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        issue = self.add_issue(f"Demo issue {self.next_iid}")
        return self.token_webhook(self.issue_hook_body(issue["iid"], "open"), secret)
