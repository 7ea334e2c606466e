"""Salesforce REST API for Leads, Opportunities, Accounts and Contacts, with its OAuth2 token endpoint.

OAuth2 (`POST /services/oauth2/token`, refresh-token and client-credentials grants; the answer names
the `instance_url`; no `expires_in`), sessions that expire (401 `INVALID_SESSION_ID`), SOQL over
`/query` and `/queryAll` with `nextRecordsUrl` batches (`Sforce-Query-Options: batchSize=`), sObject
create/update/delete and upsert by external id, `Sforce-Limit-Info` on every answer, `/limits`, and
Outbound Messages (SOAP notifications) for webhooks.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    respond,
    retry_after_text,
)

CLIENT_ID = "3MVG9sandbox.client.id"
CLIENT_SECRET = "sandbox-client-secret-51c0"  # noqa: S105 - the sandbox's own fake credential
REFRESH_TOKEN = "5Aep861sandbox.refresh.token"  # noqa: S105
ORGANIZATION_ID = "00D5e000001N2mKEAS"
API_LIMIT = 15000
OBJECTS: dict[str, dict[str, Any]] = {
    "Lead": {"prefix": "00Q", "required": ["LastName", "Company"], "defaults": {"Status": "Open - Not Contacted"}},
    "Opportunity": {"prefix": "006", "required": ["Name", "StageName", "CloseDate"], "defaults": {}},
    "Account": {"prefix": "001", "required": ["Name"], "defaults": {}},
    "Contact": {"prefix": "003", "required": ["LastName"], "defaults": {}},
}
SOQL = re.compile(
    r"^SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<field>LastModifiedDate|SystemModstamp)\s*>=\s*(?P<since>[0-9TZ:.+-]+))?"
    r"\s+ORDER BY\s+(?P<order>\w+)\s+ASC\s*,\s*Id\s+ASC$",
    re.IGNORECASE,
)


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class SalesforceSandbox(Sandbox):
    name = "salesforce"
    title = "Salesforce"
    default_port = 8705

    def __init__(self, port: int = 0, **kwargs: Any) -> None:
        self.rotate_refresh_tokens = False
        super().__init__(port, **kwargs)

    def reset_data(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self.access_tokens: set[str] = set()
        self.refresh_tokens = {REFRESH_TOKEN}
        self.token_requests = 0
        self.api_used = 0
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self.rotate_refresh_tokens = False

    # -- Data ---------------------------------------------------------------------------------------------

    def _new_id(self, sobject: str) -> str:
        return OBJECTS[sobject]["prefix"] + "5e00000" + uuid.uuid4().hex[:8].upper()

    def add(self, sobject: str, *, updated: datetime | None = None, **fields: Any) -> dict[str, Any]:
        with self.lock:
            stamp = sf_time(updated or self.now())
            record = {
                "Id": self._new_id(sobject),
                **OBJECTS[sobject]["defaults"],
                **fields,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
            self.records[sobject][record["Id"]] = record
            return record

    def seed_leads(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.add("Lead", updated=start + step * i, FirstName=f"Lead{i}", LastName="Seeded", Company=f"Co {i}")

    def touch(self, sobject: str, record_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.records[sobject][record_id]
            record.update(fields)
            record["LastModifiedDate"] = record["SystemModstamp"] = sf_time(self.now())
            return record

    def expire_sessions(self) -> None:
        """Every access token stops working, as when the org's session timeout passes."""
        with self.lock:
            self.access_tokens.clear()

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        data = r"/services/data/v(?P<version>\d+\.\d)"
        return [
            ("POST", "/services/oauth2/token", self.token),
            ("GET", data + "/limits", self.limits),
            ("GET", data + r"/(?P<endpoint>query|queryAll)", self.query),
            ("GET", data + r"/(?P<endpoint>query|queryAll)/(?P<locator>[\w-]+)", self.query_more),
            ("POST", data + r"/sobjects/(?P<sobject>\w+)", self.create),
            ("GET", data + r"/sobjects/(?P<sobject>\w+)/(?P<record_id>\w{15,18})", self.get),
            ("PATCH", data + r"/sobjects/(?P<sobject>\w+)/(?P<record_id>\w{15,18})", self.update),
            ("DELETE", data + r"/sobjects/(?P<sobject>\w+)/(?P<record_id>\w{15,18})", self.delete),
            ("PATCH", data + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+__c)/(?P<value>[\w.-]+)", self.upsert),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path == "/services/oauth2/token":
            return None
        scheme, _, token = request.header("authorization").partition(" ")
        if scheme == "Bearer" and token in self.access_tokens:
            return None
        return respond([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        answer = super().handle(request)
        if request.path.startswith("/services/data/") and answer.status != 401:
            with self.lock:
                self.api_used += 1
                answer.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{API_LIMIT}"
        return answer

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            [{"message": "Concurrent request limit exceeded", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            429,
            {"Retry-After": retry_after_text(retry_after)},
        )

    def token(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        self.token_requests += 1
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return respond({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        grant = form.get("grant_type")
        if grant == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
            return respond({"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400)
        if grant not in ("refresh_token", "client_credentials"):
            return respond({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        access = "00D5e000001N2mK!" + secrets.token_urlsafe(24)
        self.access_tokens.add(access)
        body = {
            "access_token": access,
            "instance_url": self.url,
            "id": f"{self.url}/id/{ORGANIZATION_ID}/0055e000003Xy2AAAS",
            "token_type": "Bearer",
            "issued_at": str(int(self.now().timestamp() * 1000)),
            "signature": secrets.token_urlsafe(16),
        }
        if grant == "refresh_token" and self.rotate_refresh_tokens:
            self.refresh_tokens.discard(form["refresh_token"])
            body["refresh_token"] = "5Aep861rotated." + secrets.token_urlsafe(12)
            self.refresh_tokens.add(body["refresh_token"])
        return respond(body)

    def limits(self, request: SandboxRequest, version: str) -> SandboxResponse:
        return respond({"DailyApiRequests": {"Max": API_LIMIT, "Remaining": API_LIMIT - self.api_used}})

    def _public(
        self, sobject: str, record: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        shown = {k: v for k, v in record.items() if fields is None or k in fields}
        return {
            "attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}"},
            **shown,
        }

    def _batch(self, version: str, endpoint: str, rows: list[dict[str, Any]], size: int) -> SandboxResponse:
        chunk, rest = rows[:size], rows[size:]
        body: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": chunk}
        if rest:
            locator = f"01g5e00000{uuid.uuid4().hex[:8]}-{size}"
            self.locators[locator] = rest
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}"
        return respond(body)

    @staticmethod
    def _batch_size(request: SandboxRequest) -> int:
        match = re.search(r"batchSize=(\d+)", request.header("sforce-query-options"))
        return max(int(match.group(1)), 1) if match else 2000

    def query(self, request: SandboxRequest, version: str, endpoint: str) -> SandboxResponse:
        soql = re.sub(r"\s+", " ", request.arg("q") or "").strip()
        match = SOQL.match(soql)
        if match is None or match["object"] not in OBJECTS:
            return respond([{"message": "MALFORMED_QUERY: unexpected token", "errorCode": "MALFORMED_QUERY"}], 400)
        fields = [f.strip() for f in match["fields"].split(",")]
        rows = list(self.records[match["object"]].values())
        if endpoint == "query":
            rows = [r for r in rows if not r["IsDeleted"]]
        if match["since"]:
            since = datetime.fromisoformat(match["since"].replace("Z", "+00:00"))
            rows = [r for r in rows if datetime.strptime(r[match["field"]], "%Y-%m-%dT%H:%M:%S.%f%z") >= since]
        rows.sort(key=lambda r: (r[match["order"]], r["Id"]))
        snapshot = [self._public(match["object"], r, version, fields) for r in rows]
        return self._batch(version, endpoint, snapshot, self._batch_size(request))

    def query_more(self, request: SandboxRequest, version: str, endpoint: str, locator: str) -> SandboxResponse:
        rows = self.locators.pop(locator, None)
        if rows is None:
            return respond([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}], 400)
        return self._batch(version, endpoint, rows, int(locator.rsplit("-", 1)[1]))

    def _missing(self, sobject: str, payload: dict[str, Any]) -> SandboxResponse | None:
        missing = [f for f in OBJECTS[sobject]["required"] if not payload.get(f)]
        if missing:
            return respond(
                [
                    {
                        "message": f"Required fields are missing: [{', '.join(missing)}]",
                        "errorCode": "REQUIRED_FIELD_MISSING",
                        "fields": missing,
                    }
                ],
                400,
            )
        return None

    def create(self, request: SandboxRequest, version: str, sobject: str) -> SandboxResponse:
        if sobject not in OBJECTS:
            return respond([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)
        payload = request.json() or {}
        denied = self._missing(sobject, payload)
        if denied:
            return denied
        record = self.add(sobject, **{k: v for k, v in payload.items() if k not in ("Id", "attributes")})
        return respond({"id": record["Id"], "success": True, "errors": []}, 201)

    def _live(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        record = self.records.get(sobject, {}).get(record_id)
        return None if record is None or record["IsDeleted"] else record

    def get(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        record = self._live(sobject, record_id)
        if record is None:
            return respond([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)
        return respond(self._public(sobject, record, version))

    def update(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        record = self._live(sobject, record_id)
        if record is None:
            return respond([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)
        self.touch(sobject, record_id, **{k: v for k, v in (request.json() or {}).items() if k != "Id"})
        return respond(None, 204)

    def delete(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        record = self._live(sobject, record_id)
        if record is None:
            return respond([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)
        self.touch(sobject, record_id, IsDeleted=True)
        return respond(None, 204)

    def upsert(self, request: SandboxRequest, version: str, sobject: str, field: str, value: str) -> SandboxResponse:
        payload = {k: v for k, v in (request.json() or {}).items() if k != field}
        existing = next(
            (r for r in self.records.get(sobject, {}).values() if r.get(field) == value and not r["IsDeleted"]), None
        )
        if existing is not None:
            self.touch(sobject, existing["Id"], **payload)
            return respond({"id": existing["Id"], "success": True, "errors": [], "created": False}, 200)
        denied = self._missing(sobject, payload)
        if denied:
            return denied
        record = self.add(sobject, **{**payload, field: value})
        return respond({"id": record["Id"], "success": True, "errors": [], "created": True}, 201)

    # -- Outbound Messages ----------------------------------------------------------------------------

    def outbound_message(
        self, sobject: str, record_ids: list[str], token: str, *, organization_id: str = ORGANIZATION_ID
    ) -> WebhookCall:
        notifications = []
        for record_id in record_ids:
            record = self.records[sobject].get(record_id, {"Id": record_id})
            fields = "".join(
                f"<sf:{escape(name)}>{escape(str(value))}</sf:{escape(name)}>"
                for name, value in record.items()
                if name in ("Id", "Name", "LastName", "Company", "StageName", "LastModifiedDate")
            )
            notifications.append(
                f"<Notification><Id>04l5e00000{uuid.uuid4().hex[:8].upper()}</Id>"
                f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject>'
                "</Notification>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{organization_id}</OrganizationId><ActionId>04k5e000000TnKUAA0</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{self.url}/services/Soap/c/60.0/{organization_id[:15]}</EnterpriseUrl>"
            f"{''.join(notifications)}</notifications></soapenv:Body></soapenv:Envelope>"
        ).encode()
        return WebhookCall(
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""', "User-Agent": "Salesforce"},
            body=body,
            query=f"token={token}",
        )

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {
            "provider": "salesforce",
            "settings": {"organization_id": ORGANIZATION_ID},
            "credentials": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
        }

    def seed_demo(self) -> None:
        self.seed_leads(3, start=self.now() - timedelta(days=1), step=timedelta(hours=1))
        self.add("Account", Name="Globex Corporation", Industry="Manufacturing")
        self.add("Opportunity", Name="Globex renewal", StageName="Prospecting", CloseDate="2026-12-31", Amount=120000)

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        lead = self.add("Lead", LastName=f"Demo {self.api_used}", Company="Initech")
        return self.outbound_message("Lead", [lead["Id"]], secret)
