"""Azure DevOps Services REST API (dev.azure.com) for work items and iterations.

PAT as the Basic password with an empty user name, a mandatory `api-version`, WIQL
(`POST _apis/wit/wiql?timePrecision=true&$top=N`) returning ids only, `POST _apis/wit/workitemsbatch` for
up to 200 of them, JSON Patch (`application/json-patch+json`) creates and updates, comments, team
iterations, `X-RateLimit-*` headers and 429 + `Retry-After`, and service-hook deliveries carrying a shared
secret header.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    respond,
    retry_after_text,
)

ORGANIZATION, PROJECT, TEAM = "nofx-demo", "Integrations", "Integrations Team"
PAT = "sandboxpat5j3kq7v2w9x4y6z8a1b3c5d7e9f0g2h4"
WIQL = re.compile(
    r"^SELECT \[System\.Id\] FROM WorkItems WHERE \[System\.TeamProject\] = @project"
    r"(?: AND \[System\.ChangedDate\] >= '(?P<since>[0-9T:.Z-]+)')?"
    r" ORDER BY \[System\.ChangedDate\] ASC, \[System\.Id\] ASC$"
)


def ado_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AzureDevOpsSandbox(Sandbox):
    name = "azure_devops"
    title = "Azure DevOps"
    default_port = 8706

    def reset_data(self) -> None:
        self.work_items: dict[int, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.deleted: list[int] = []
        self.next_id = 100
        start = datetime(2026, 1, 5, tzinfo=UTC)
        self.iterations = [
            {
                "id": str(uuid.UUID(int=n)),
                "name": f"Sprint {n}",
                "path": f"{PROJECT}\\Sprint {n}",
                "attributes": {
                    "startDate": ado_time(start + timedelta(weeks=2 * (n - 1))),
                    "finishDate": ado_time(start + timedelta(weeks=2 * n, days=-3)),
                    "timeFrame": "past" if n < 3 else ("current" if n == 3 else "future"),
                },
            }
            for n in range(1, 5)
        ]

    # -- Data ---------------------------------------------------------------------------------------------

    def add(
        self, title: str, *, updated: datetime | None = None, work_item_type: str = "Task", **fields: Any
    ) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            stamp = ado_time(updated or self.now())
            item: dict[str, Any] = {
                "id": self.next_id,
                "rev": 1,
                "fields": {
                    "System.TeamProject": PROJECT,
                    "System.WorkItemType": work_item_type,
                    "System.Title": title,
                    "System.State": "New",
                    "System.Description": "",
                    "System.AssignedTo": None,
                    "System.IterationPath": PROJECT,
                    "System.Tags": "",
                    "Microsoft.VSTS.Common.Priority": 2,
                    "System.CreatedDate": stamp,
                    "System.ChangedDate": stamp,
                    **fields,
                },
            }
            self.work_items[item["id"]] = item
            return item

    def seed(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.add(f"Seeded work item {i}", updated=start + step * i)

    def touch(self, item_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            item = self.work_items[item_id]
            item["fields"].update(fields)
            item["fields"]["System.ChangedDate"] = ado_time(self.now())
            item["rev"] += 1
            return item

    def _public(self, item: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.url}/{ORGANIZATION}/{PROJECT}/_apis/wit/workItems/{item['id']}"
        return {**item, "url": base}

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = f"/{ORGANIZATION}/(?P<project>[^/]+)"
        return [
            ("GET", f"/{ORGANIZATION}/_apis/projects/(?P<project>[^/]+)", self.get_project),
            ("POST", project + "/_apis/wit/wiql", self.wiql),
            ("POST", project + "/_apis/wit/workitemsbatch", self.batch),
            ("GET", project + r"/_apis/wit/workitems/(?P<item_id>\d+)", self.get_item),
            ("PATCH", project + r"/_apis/wit/workitems/(?P<item_id>\d+)", self.update_item),
            ("DELETE", project + r"/_apis/wit/workitems/(?P<item_id>\d+)", self.delete_item),
            ("POST", project + r"/_apis/wit/workitems/\$(?P<item_type>[^/]+)", self.create_item),
            ("POST", project + r"/_apis/wit/workItems/(?P<item_id>\d+)/comments", self.add_comment),
            ("GET", project + r"/(?P<team>[^/]+)/_apis/work/teamsettings/iterations", self.iterations_list),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        scheme, _, encoded = request.header("authorization").partition(" ")
        if scheme == "Basic":
            try:
                _user, _, password = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                password = ""
            if password == PAT:
                if not request.arg("api-version"):
                    return respond(
                        {
                            "message": "No api-version was supplied for the request.",
                            "typeKey": "VssInvalidPreviewVersionException",
                        },
                        400,
                    )
                return None
        return respond(
            {
                "message": "TF400813: The user is not authorized to access this resource.",
                "typeKey": "UnauthorizedRequestException",
            },
            401,
        )

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "X-RateLimit-Resource": "core",
            "X-RateLimit-Delay": "0",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(reset_at)),
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            {
                "message": (
                    "TF400733: The request has been canceled: Request was blocked due to exceeding usage of "
                    "resource 'core'."
                ),
                "typeKey": "RequestBlockedException",
            },
            429,
            {"Retry-After": retry_after_text(retry_after), "X-RateLimit-Resource": "core"},
        )

    def _project_ok(self, project: str) -> SandboxResponse | None:
        if project != PROJECT:
            return respond({"message": f"TF200016: The following project does not exist: {project}."}, 404)
        return None

    def get_project(self, request: SandboxRequest, project: str) -> SandboxResponse:
        return self._project_ok(project) or respond(
            {"id": str(uuid.UUID(int=7)), "name": PROJECT, "state": "wellFormed"}
        )

    def wiql(self, request: SandboxRequest, project: str) -> SandboxResponse:
        query = re.sub(r"\s+", " ", str((request.json() or {}).get("query", ""))).strip()
        match = WIQL.match(query)
        if match is None:
            return respond(
                {"message": "TF51005: The query references a field that does not exist.", "typeKey": "QueryException"},
                400,
            )
        items = list(self.work_items.values())
        if match["since"]:
            since = datetime.fromisoformat(match["since"].replace("Z", "+00:00"))
            if request.arg("timePrecision") != "true":
                # Without timePrecision, WIQL compares dates only (midnight of the day).
                since = since.replace(hour=0, minute=0, second=0, microsecond=0)
            items = [
                i
                for i in items
                if datetime.fromisoformat(i["fields"]["System.ChangedDate"].replace("Z", "+00:00")) >= since
            ]
        items.sort(key=lambda i: (i["fields"]["System.ChangedDate"], i["id"]))
        top = request.int_arg("$top", 20000)
        return respond(
            {
                "queryType": "flat",
                "asOf": ado_time(self.now()),
                "columns": [{"referenceName": "System.Id"}],
                "workItems": [{"id": i["id"], "url": self._public(i)["url"]} for i in items[:top]],
            }
        )

    def batch(self, request: SandboxRequest, project: str) -> SandboxResponse:
        payload = request.json() or {}
        ids = payload.get("ids") or []
        if len(ids) > 200:
            return respond({"message": "VS403474: The maximum number of work items per batch is 200."}, 400)
        found = [self._public(self.work_items[i]) for i in ids if i in self.work_items]
        return respond({"count": len(found), "value": found})

    def get_item(self, request: SandboxRequest, project: str, item_id: str) -> SandboxResponse:
        item = self.work_items.get(int(item_id))
        if item is None:
            return respond({"message": f"TF401232: Work item {item_id} does not exist."}, 404)
        return respond(self._public(item))

    def _patch(self, item: dict[str, Any], operations: Any) -> SandboxResponse | None:
        if not isinstance(operations, list):
            return respond({"message": "You must pass a valid patch document in the body of the request."}, 400)
        for operation in operations:
            path = str(operation.get("path", ""))
            if operation.get("op") not in ("add", "replace", "remove") or not path.startswith("/fields/"):
                return respond({"message": f"Unsupported patch operation {operation}."}, 400)
            name = path[len("/fields/") :]
            if name == "System.Title" and not operation.get("value"):
                return respond(
                    {"message": "TF401320: Rule Error for field Title. Error code: Required, HasValues."}, 400
                )
            if operation["op"] == "remove":
                item["fields"].pop(name, None)
            else:
                item["fields"][name] = operation.get("value")
        return None

    def create_item(self, request: SandboxRequest, project: str, item_type: str) -> SandboxResponse:
        if "json-patch" not in request.header("content-type"):
            return respond({"message": "The request content type must be application/json-patch+json."}, 415)
        item = self.add("", work_item_type=item_type)
        failed = self._patch(item, request.json())
        if failed or not item["fields"]["System.Title"]:
            del self.work_items[item["id"]]
            return failed or respond({"message": "TF401320: Rule Error for field Title."}, 400)
        return respond(self._public(item))

    def update_item(self, request: SandboxRequest, project: str, item_id: str) -> SandboxResponse:
        item = self.work_items.get(int(item_id))
        if item is None:
            return respond({"message": f"TF401232: Work item {item_id} does not exist."}, 404)
        if "json-patch" not in request.header("content-type"):
            return respond({"message": "The request content type must be application/json-patch+json."}, 415)
        failed = self._patch(item, request.json())
        if failed:
            return failed
        item["fields"]["System.ChangedDate"] = ado_time(self.now())
        item["rev"] += 1
        return respond(self._public(item))

    def delete_item(self, request: SandboxRequest, project: str, item_id: str) -> SandboxResponse:
        item = self.work_items.pop(int(item_id), None)
        if item is None:
            return respond({"message": f"TF401232: Work item {item_id} does not exist."}, 404)
        self.deleted.append(item["id"])
        return respond({"id": item["id"], "code": 200, "deletedDate": ado_time(self.now())})

    def add_comment(self, request: SandboxRequest, project: str, item_id: str) -> SandboxResponse:
        if int(item_id) not in self.work_items:
            return respond({"message": f"TF401232: Work item {item_id} does not exist."}, 404)
        text = (request.json() or {}).get("text")
        if not text:
            return respond({"message": "Comment text is required."}, 400)
        comment = {
            "id": len(self.comments) + 1,
            "workItemId": int(item_id),
            "text": text,
            "createdDate": ado_time(self.now()),
        }
        self.comments.append(comment)
        return respond(comment)

    def iterations_list(self, request: SandboxRequest, project: str, team: str) -> SandboxResponse:
        return self._project_ok(project) or respond({"count": len(self.iterations), "value": self.iterations})

    # -- Service hooks ------------------------------------------------------------------------------------

    def service_hook(
        self, event_type: str, item_id: int, secret: str, *, header: str = "X-NOFX-Webhook-Secret"
    ) -> WebhookCall:
        item = self.work_items.get(item_id, {"id": item_id, "rev": 1, "fields": {}})
        resource: dict[str, Any] = (
            {
                "id": item["rev"],
                "workItemId": item_id,
                "rev": item["rev"],
                "revision": self._public(item) if self._server else item,
            }
            if event_type == "workitem.updated"
            else self._public(item)
            if self._server
            else item
        )
        body = json.dumps(
            {
                "subscriptionId": str(uuid.UUID(int=99)),
                "notificationId": 1,
                "id": str(uuid.uuid4()),
                "eventType": event_type,
                "publisherId": "tfs",
                "resource": resource,
                "createdDate": ado_time(self.now()),
            }
        ).encode()
        return WebhookCall(headers={"Content-Type": "application/json", header: secret}, body=body)

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {
            "provider": "azure_devops",
            "settings": {"organization": ORGANIZATION, "project": PROJECT, "team": TEAM},
            "credentials": {"personal_access_token": PAT},
        }

    def seed_demo(self) -> None:
        self.seed(3, start=self.now() - timedelta(days=1), step=timedelta(hours=2))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        item = self.add(f"Demo work item {self.next_id + 1}")
        return self.service_hook("workitem.created", item["id"], secret)
