"""Salesforce REST API: Leads, Opportunities, Accounts and Contacts; Outbound Message webhooks.

Docs: OAuth 2.0 web-server flow (refresh token) or client-credentials flow against the login host; the
token answer names the `instance_url` every API call then goes to. Changes are read with SOQL over
`queryAll` (so deletions arrive with `IsDeleted`), `WHERE LastModifiedDate >= <watermark> ORDER BY
LastModifiedDate ASC, Id ASC`, following `nextRecordsUrl`: a query locator is a server-side snapshot, so it
is kept in the cursor and walked to the end. `Sforce-Limit-Info` feeds the rate budget (a daily
allocation with no reset time; keep a `reserve` for people sharing the org).

Creates are idempotent when the connector names an external-id field: `create(..., idempotency_key=k)`
becomes an upsert on that field (`PATCH /sobjects/<Object>/<Field>/<k>`), so a retried create finds the
record it already made.

Webhooks are Outbound Messages (SOAP, no signature): the endpoint URL carries `?token=<webhook_secret>`
and the message's OrganizationId must be the connector's org; the answer is the SOAP `Ack`.
"""

from __future__ import annotations

import hmac
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree

from apps.connectors.authentication import Authenticator, OAuth2
from apps.connectors.errors import InvalidRequest, WebhookRejected
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
from apps.connectors.providers.cursors import Cursor, snapshot_page
from apps.connectors.timestamps import iso_utc_millis, parse_timestamp
from apps.connectors.transport import Outcome, ResponseVerdict

SOAP_NS = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
SOBJECT_NS = "{urn:sobject.enterprise.soap.sforce.com}"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    b"</soapenv:Body></soapenv:Envelope>"
)

SYSTEM_FIELDS = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
STRING = {"type": ["string", "null"]}
OBJECT_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "Lead": {
        "FirstName": STRING,
        "LastName": {"type": "string", "minLength": 1, "maxLength": 80},
        "Company": {"type": "string", "minLength": 1, "maxLength": 255},
        "Email": {"type": ["string", "null"], "format": "email"},
        "Phone": STRING,
        "Status": STRING,
        "LeadSource": STRING,
    },
    "Opportunity": {
        "Name": {"type": "string", "minLength": 1, "maxLength": 120},
        "StageName": {"type": "string", "minLength": 1},
        "CloseDate": {"type": "string", "format": "date"},
        "Amount": {"type": ["number", "null"]},
        "Probability": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "AccountId": STRING,
    },
    "Account": {
        "Name": {"type": "string", "minLength": 1, "maxLength": 255},
        "Industry": STRING,
        "Website": STRING,
        "Phone": STRING,
        "BillingCountry": STRING,
    },
    "Contact": {
        "FirstName": STRING,
        "LastName": {"type": "string", "minLength": 1, "maxLength": 80},
        "Email": {"type": ["string", "null"], "format": "email"},
        "Phone": STRING,
        "Title": STRING,
        "AccountId": STRING,
    },
}
REQUIRED = {
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Account": ("Name",),
    "Contact": ("LastName",),
}


def _object_type(name: str) -> ObjectType:
    properties = {
        "Id": {"type": "string", "pattern": "^[a-zA-Z0-9]{15,18}$"},
        **OBJECT_FIELDS[name],
        "CreatedDate": {"type": "string", "format": "date-time"},
        "LastModifiedDate": {"type": "string", "format": "date-time"},
        "SystemModstamp": {"type": "string", "format": "date-time"},
        "IsDeleted": {"type": "boolean"},
    }
    schema = record_schema(f"Salesforce {name}", properties, required=REQUIRED[name], read_only=SYSTEM_FIELDS)
    return ObjectType(
        name,
        f"{name}s" if not name.endswith("y") else f"{name[:-1]}ies",
        schema,
        id_field="Id",
        updated_field="LastModifiedDate",
        operations=("read", "get", "create", "update", "delete"),
    )


class SalesforceProvider(Provider):
    kind = "salesforce"
    title = "Salesforce"
    default_base_url = "https://login.salesforce.com"
    supports_idempotency_keys = True
    default_page_size = 200
    settings_schema = {
        "type": "object",
        "properties": {
            "grant_type": {
                "type": "string",
                "enum": ["refresh_token", "client_credentials"],
                "default": "refresh_token",
            },
            "api_version": {"type": "string", "pattern": r"^v\d{2}\.0$", "default": "v60.0"},
            "external_id_field": {
                "type": "string",
                "pattern": r"^\w+__c$",
                "description": "A custom external-id field; makes creates idempotent (upsert).",
            },
            "organization_id": {"type": "string", "pattern": "^00D[a-zA-Z0-9]{12,15}$"},
        },
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "client_id": {"type": "string", "minLength": 1},
            "client_secret": {"type": "string", "minLength": 1},
            "refresh_token": {"type": "string", "minLength": 1},
            "access_token": {"type": "string"},
            "expires_at": {"type": "number"},
            "instance_url": {"type": "string", "format": "uri"},
            "webhook_secret": {"type": "string", "minLength": 16},
        },
        "required": ["client_id", "client_secret"],
        "additionalProperties": False,
    }
    object_type_list = tuple(_object_type(name) for name in OBJECT_FIELDS)
    action_list = (
        ActionSpec(
            "create_lead",
            "Create a lead",
            "Creates a Lead.",
            {
                "type": "object",
                "properties": {
                    "FirstName": {"type": "string"},
                    "LastName": {"type": "string", "minLength": 1},
                    "Company": {"type": "string", "minLength": 1},
                    "Email": {"type": "string", "format": "email"},
                },
                "required": ["LastName", "Company"],
                "additionalProperties": False,
            },
            {"type": "object", "properties": {"Id": {"type": "string"}}, "required": ["Id"]},
            handler="create_lead",
        ),
        ActionSpec(
            "update_opportunity_stage",
            "Move an opportunity to a stage",
            "Sets an Opportunity's StageName (and optionally its amount).",
            {
                "type": "object",
                "properties": {
                    "Id": {"type": "string", "pattern": "^006[a-zA-Z0-9]{12,15}$"},
                    "StageName": {"type": "string", "minLength": 1},
                    "Amount": {"type": "number", "minimum": 0},
                },
                "required": ["Id", "StageName"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"Id": {"type": "string"}, "StageName": {"type": "string"}},
                "required": ["Id", "StageName"],
            },
            handler="update_opportunity_stage",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._oauth = OAuth2(
            self.connection,
            token_url=f"{self.connection.base_url}/services/oauth2/token",
            grant_type=self.settings.get("grant_type", "refresh_token"),
            on_token=lambda payload: {"instance_url": payload["instance_url"]},
        )

    def authenticator(self) -> Authenticator:
        return self._oauth

    def classify_response(self, response: httpx.Response) -> ResponseVerdict | None:
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
            # The org's daily API allocation is spent: not worth waiting for inside one call.
            return ResponseVerdict(
                Outcome.RATE_LIMITED, "The org's daily API request limit is exceeded.", retry_after=3600
            )
        return None

    def _instance(self, path: str) -> str:
        """An absolute URL on the instance the token answer named (fetching a token first if needed)."""
        credentials = self.credentials
        if not credentials.get("instance_url") or not credentials.get("access_token"):
            credentials = self._oauth.refresh(self.http, rejected_token=None)
        instance = credentials["instance_url"].rstrip("/")
        self.http.trust_origin(instance)
        return f"{instance}/{path.lstrip('/')}"

    def _api(self, path: str) -> str:
        return self._instance(f"/services/data/{self.settings.get('api_version', 'v60.0')}/{path.lstrip('/')}")

    def ping(self) -> None:
        self.http.request("GET", self._api("limits"))

    # -- Records ------------------------------------------------------------------------------------------

    @staticmethod
    def record(sobject: str, item: dict[str, Any]) -> Record:
        data = {k: v for k, v in item.items() if k != "attributes"}
        return Record(
            sobject,
            item["Id"],
            data,
            parse_timestamp(item.get("LastModifiedDate")),
            deleted=bool(item.get("IsDeleted")),
        )

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        cursor = Cursor.decode(since_cursor)
        headers = {"Sforce-Query-Options": f"batchSize={page_size or self.default_page_size}"}
        if cursor.token:
            try:
                response = self.http.request("GET", self._instance(cursor.token), headers=headers)
            except InvalidRequest as exc:
                if "INVALID_QUERY_LOCATOR" not in str(exc.body):
                    raise
                # Query locators expire after ~15 idle minutes: start the pass again from its watermark.
                return self.read_changes(
                    object_type, Cursor(cursor.watermark, cursor.seen).encode(), page_size=page_size
                )
        else:
            fields = ", ".join(dict.fromkeys(["Id", *OBJECT_FIELDS[object_type], *SYSTEM_FIELDS[1:]]))
            where = f" WHERE LastModifiedDate >= {iso_utc_millis(cursor.watermark)}" if cursor.watermark else ""
            # SOQL built only from our own field list, a checked object type and our own timestamp.
            soql = f"SELECT {fields} FROM {object_type}{where} ORDER BY LastModifiedDate ASC, Id ASC"  # noqa: S608
            response = self.http.request("GET", self._api("queryAll"), params={"q": soql}, headers=headers)
        batch = response.json()
        records = [self.record(object_type, item) for item in batch.get("records", [])]
        return snapshot_page(cursor, records, None if batch.get("done", True) else batch.get("nextRecordsUrl"))

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        return self.record(object_type, self.http.json("GET", self._api(f"sobjects/{object_type}/{record_id}")))

    @staticmethod
    def _writable(object_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k in OBJECT_FIELDS[object_type]}

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        payload = self._writable(object_type, data)
        external = self.settings.get("external_id_field")
        if idempotency_key and external:
            answer = self.http.json(
                "PATCH", self._api(f"sobjects/{object_type}/{external}/{idempotency_key}"), json=payload
            )
        else:
            answer = self.http.json("POST", self._api(f"sobjects/{object_type}"), json=payload)
        return self.get(object_type, answer["id"])

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        self.http.request(
            "PATCH", self._api(f"sobjects/{object_type}/{record_id}"), json=self._writable(object_type, data)
        )
        return self.get(object_type, record_id)

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self.http.request("DELETE", self._api(f"sobjects/{object_type}/{record_id}"))

    # -- Actions ------------------------------------------------------------------------------------------

    def create_lead(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"Id": self.create("Lead", payload).id}

    def update_opportunity_stage(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.update("Opportunity", payload["Id"], {k: v for k, v in payload.items() if k != "Id"})
        return {"Id": record.id, "StageName": str(record.data["StageName"])}

    # -- Outbound Messages --------------------------------------------------------------------------------

    @staticmethod
    def _notifications(request: InboundRequest) -> Element:
        try:
            envelope = ElementTree.fromstring(request.body)
        except ElementTree.ParseError as exc:
            raise WebhookRejected("malformed_body", "The body is not a SOAP envelope.") from exc
        notifications = envelope.find(f"{SOAP_NS}Body/{OUTBOUND_NS}notifications")
        if notifications is None:
            raise WebhookRejected("malformed_body", "No Outbound Message notifications in the body.")
        return notifications

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = self.credentials.get("webhook_secret")
        if not secret:
            raise WebhookRejected("not_configured", "No webhook secret is configured for this connector.")
        presented = request.query.get("token", "")
        if not presented:
            raise WebhookRejected("missing_signature", "The endpoint URL must carry ?token=<webhook secret>.")
        if not hmac.compare_digest(secret.encode(), presented.encode()):
            raise WebhookRejected("bad_signature", "The token does not match.")
        notifications = self._notifications(request)
        organization = (notifications.findtext(f"{OUTBOUND_NS}OrganizationId") or "").strip()
        expected = self.settings.get("organization_id")
        if expected and organization[:15] != expected[:15]:
            raise WebhookRejected("wrong_organization", "The message comes from another Salesforce org.")
        ids = sorted(n.findtext(f"{OUTBOUND_NS}Id") or "" for n in notifications.iter(f"{OUTBOUND_NS}Notification"))
        # Salesforce resends until it reads the Ack, duplicates included.
        ack = WebhookReply(status=200, body=ACK, content_type="text/xml; charset=utf-8")
        return VerifiedWebhook(",".join(ids), "outbound_message", reply=ack)

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        affected = []
        xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
        for notification in self._notifications(request).iter(f"{OUTBOUND_NS}Notification"):
            sobject = notification.find(f"{OUTBOUND_NS}sObject")
            if sobject is None:
                continue
            object_type = (sobject.get(xsi_type) or "").split(":")[-1]
            record_id = sobject.findtext(f"{SOBJECT_NS}Id")
            if object_type in OBJECT_FIELDS and record_id:
                affected.append(RecordRef(object_type, record_id))
        return WebhookEvent(event_type="outbound_message", affected=affected)
