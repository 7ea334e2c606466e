"""ServiceNow Table API (`/api/now/table/{table}`) for incidents and change requests.

Basic auth, `sysparm_query` encoded queries (`field>=value^ORDERBYfield`), `sysparm_limit` /
`sysparm_offset` with a `Link` header (first/prev/next/last) and `X-Total-Count`, `sysparm_fields`,
timestamps as `YYYY-MM-DD HH:MM:SS` (UTC for an integration user in UTC), `work_notes` journal writes,
429 with `X-RateLimit-*` and `Retry-After`, and the signed outbound REST message our Business Rule sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

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

USERNAME = "nofx.integration"
PASSWORD = "sandbox-password-8b2e"  # noqa: S105 - the sandbox's own fake credential
TABLES = {"incident": ("INC", 10000), "change_request": ("CHG", 30000)}
REQUIRED = {"incident": "short_description", "change_request": "short_description"}
WRITABLE = ("short_description", "description", "state", "priority", "urgency", "impact", "assigned_to", "category")


def sn_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _value(name: str, record: dict[str, Any]) -> str:
    return str(record.get(name, ""))


class ServiceNowSandbox(Sandbox):
    name = "servicenow"
    title = "ServiceNow"
    default_port = 8704

    def reset_data(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
        self.counters = {name: start for name, (_prefix, start) in TABLES.items()}
        self.journal: list[dict[str, Any]] = []

    # -- Data ---------------------------------------------------------------------------------------------

    def add(
        self, table: str, short_description: str, *, updated: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        with self.lock:
            self.counters[table] += 1
            prefix = TABLES[table][0]
            stamp = sn_time(updated or self.now())
            record = {
                "sys_id": uuid.uuid4().hex,
                "number": f"{prefix}{self.counters[table]:07d}",
                "short_description": short_description,
                "description": "",
                "state": "1",
                "priority": "4",
                "urgency": "3",
                "impact": "3",
                "assigned_to": "",
                "category": "inquiry",
                "sys_created_on": stamp,
                "sys_updated_on": stamp,
                "sys_mod_count": "0",
                "work_notes": "",
            }
            record.update({k: str(v) for k, v in fields.items()})
            self.tables[table][record["sys_id"]] = record
            return record

    def seed(self, table: str, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.add(table, f"Seeded {table} {i}", updated=start + step * i)

    def touch(self, table: str, sys_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.tables[table][sys_id]
            record.update({k: str(v) for k, v in fields.items()})
            record["sys_updated_on"] = sn_time(self.now())
            record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
            return record

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        table = r"/api/now/table/(?P<table>[a-z_]+)"
        return [
            ("GET", table, self.list_records),
            ("POST", table, self.create_record),
            ("GET", table + r"/(?P<sys_id>[0-9a-f]{32})", self.get_record),
            ("PATCH", table + r"/(?P<sys_id>[0-9a-f]{32})", self.update_record),
            ("PUT", table + r"/(?P<sys_id>[0-9a-f]{32})", self.update_record),
            ("DELETE", table + r"/(?P<sys_id>[0-9a-f]{32})", self.delete_record),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        scheme, _, encoded = request.header("authorization").partition(" ")
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if user == USERNAME and password == PASSWORD:
                return None
        return respond(
            {
                "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
                "status": "failure",
            },
            401,
        )

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(reset_at)),
            "X-RateLimit-Rule": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            {
                "error": {"message": "Rate limit exceeded", "detail": "Too many requests for the rule"},
                "status": "failure",
            },
            429,
            {"Retry-After": retry_after_text(retry_after)},
        )

    def _table(self, table: str) -> dict[str, dict[str, Any]] | None:
        return self.tables.get(table)

    def _not_found(self) -> SandboxResponse:
        return respond(
            {
                "error": {
                    "message": "No Record found",
                    "detail": "Record doesn't exist or ACL restricts the record retrieval",
                },
                "status": "failure",
            },
            404,
        )

    @staticmethod
    def _project(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
        shown = {k: v for k, v in record.items() if k != "work_notes"} | {"work_notes": ""}
        if not fields:
            return shown
        return {k: shown.get(k, "") for k in fields.split(",")}

    def list_records(self, request: SandboxRequest, table: str) -> SandboxResponse:
        rows = self._table(table)
        if rows is None:
            return respond({"error": {"message": "Invalid table", "detail": table}, "status": "failure"}, 400)
        items = list(rows.values())
        order: list[tuple[str, bool]] = []
        for term in filter(None, (request.arg("sysparm_query") or "").split("^")):
            if term.startswith("ORDERBYDESC"):
                order.append((term[len("ORDERBYDESC") :], True))
            elif term.startswith("ORDERBY"):
                order.append((term[len("ORDERBY") :], False))
            elif ">=" in term:
                name, value = term.split(">=", 1)
                items = [i for i in items if str(i.get(name, "")) >= value]
            elif ">" in term:
                name, value = term.split(">", 1)
                items = [i for i in items if str(i.get(name, "")) > value]
            elif "=" in term:
                name, value = term.split("=", 1)
                items = [i for i in items if str(i.get(name, "")) == value]
            else:
                return respond({"error": {"message": "Invalid query", "detail": term}, "status": "failure"}, 400)
        for name, descending in reversed(order):
            items.sort(key=partial(_value, name), reverse=descending)
        limit = min(request.int_arg("sysparm_limit", 10000), 10000)
        offset = request.int_arg("sysparm_offset", 0)
        chunk = items[offset : offset + limit]

        def page(at: int) -> str:
            query = {k: v[-1] for k, v in request.query.items()} | {
                "sysparm_offset": str(at),
                "sysparm_limit": str(limit),
            }
            return f"{self.url}{request.path}?{urlencode(query)}"

        links = {"first": page(0)}
        if offset > 0:
            links["prev"] = page(max(offset - limit, 0))
        if offset + limit < len(items):
            links["next"] = page(offset + limit)
        links["last"] = page(max((math.ceil(len(items) / limit) - 1) * limit, 0))
        body = [self._project(r, request.arg("sysparm_fields")) for r in chunk]
        return respond({"result": body}, headers={"Link": link_header(links), "X-Total-Count": str(len(items))})

    def get_record(self, request: SandboxRequest, table: str, sys_id: str) -> SandboxResponse:
        record = (self._table(table) or {}).get(sys_id)
        if record is None:
            return self._not_found()
        return respond({"result": self._project(record, request.arg("sysparm_fields"))})

    def _write(self, table: str, record: dict[str, Any], payload: dict[str, Any]) -> None:
        for key in WRITABLE:
            if key in payload:
                record[key] = str(payload[key] or "")
        if payload.get("work_notes"):
            self.journal.append({"element_id": record["sys_id"], "name": table, "value": payload["work_notes"]})

    def create_record(self, request: SandboxRequest, table: str) -> SandboxResponse:
        if self._table(table) is None:
            return respond({"error": {"message": "Invalid table", "detail": table}, "status": "failure"}, 400)
        payload = request.json() or {}
        if not payload.get(REQUIRED[table]):
            return respond(
                {
                    "error": {
                        "message": "Operation Failed",
                        "detail": f"Data Policy Exception: {REQUIRED[table]} is mandatory",
                    },
                    "status": "failure",
                },
                403,
            )
        record = self.add(table, payload[REQUIRED[table]])
        self._write(table, record, payload)
        return respond({"result": self._project(record, None)}, 201)

    def update_record(self, request: SandboxRequest, table: str, sys_id: str) -> SandboxResponse:
        record = (self._table(table) or {}).get(sys_id)
        if record is None:
            return self._not_found()
        self._write(table, record, request.json() or {})
        record["sys_updated_on"] = sn_time(self.now())
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
        return respond({"result": self._project(record, None)})

    def delete_record(self, request: SandboxRequest, table: str, sys_id: str) -> SandboxResponse:
        if (self._table(table) or {}).pop(sys_id, None) is None:
            return self._not_found()
        return respond(None, 204)

    # -- Webhooks (the outbound REST message of the Business Rule in docs/connectors/webhooks.md) ---

    def signed_webhook(
        self, table: str, sys_id: str, operation: str, secret: str, *, sent_at: datetime | None = None
    ) -> WebhookCall:
        record = self.tables[table].get(sys_id, {"sys_id": sys_id, "sys_mod_count": "0"})
        body = json.dumps(
            {
                "table": table,
                "operation": operation,
                "sys_id": sys_id,
                "number": record.get("number"),
                "sys_updated_on": record.get("sys_updated_on"),
                "sys_mod_count": record.get("sys_mod_count"),
            }
        ).encode()
        timestamp = str(int((sent_at or self.now()).timestamp()))
        signature = base64.b64encode(
            hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
        )
        return WebhookCall(
            headers={
                "Content-Type": "application/json",
                "X-SN-Delivery-Id": f"{sys_id}:{record.get('sys_mod_count')}:{operation}",
                "X-SN-Timestamp": timestamp,
                "X-SN-Signature": signature.decode(),
            },
            body=body,
        )

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {"provider": "servicenow", "settings": {"username": USERNAME}, "credentials": {"password": PASSWORD}}

    def seed_demo(self) -> None:
        self.seed("incident", 3, start=self.now() - timedelta(days=1), step=timedelta(hours=1))
        self.seed("change_request", 2, start=self.now() - timedelta(days=1), step=timedelta(hours=2))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        record = self.add("incident", f"Demo incident {self.counters['incident'] + 1}")
        return self.signed_webhook("incident", record["sys_id"], "insert", secret)
