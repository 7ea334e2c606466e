"""Microsoft Teams through Microsoft Graph: channel messages and channels; a notification channel and bot.

Docs: Graph v1.0 `teams/{id}/channels/{id}/messages` (post, update, softDelete need *delegated*
permission, so the connector holds a refresh token of a service account: `refresh_token` grant, and
Entra ID rotates that refresh token on every use), `messages/delta` for changes (the `@odata.deltaLink`
is the cursor), `@odata.nextLink` pages, 429 + `Retry-After`.

Inbound: Graph change notifications (the `validationToken` handshake answered in text/plain; each
notification's `clientState` must equal our secret) and Teams outgoing webhooks
(`Authorization: HMAC <base64 HMAC-SHA256(body)>` keyed with the base64 security token Teams shows
once), which also answer `@nofx status`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import re
from typing import Any
from urllib.parse import quote

from apps.connectors.authentication import Authenticator, OAuth2
from apps.connectors.errors import WebhookRejected
from apps.connectors.providers.base import (
    ActionSpec,
    ChangePage,
    InboundRequest,
    Notification,
    ObjectType,
    Provider,
    Record,
    RecordRef,
    VerifiedWebhook,
    WebhookEvent,
    WebhookReply,
    record_schema,
)
from apps.connectors.providers.cursors import Cursor
from apps.connectors.providers.signatures import hmac_sha256
from apps.connectors.timestamps import parse_timestamp

MESSAGE_SCHEMA = record_schema(
    "Teams channel message",
    {
        "id": {"type": "string"},
        "subject": {"type": ["string", "null"], "maxLength": 255},
        "body": {"type": "string", "minLength": 1, "description": "HTML."},
        "from": {"type": ["string", "null"]},
        "reply_to_id": {"type": ["string", "null"]},
        "web_url": {"type": ["string", "null"]},
        "created": {"type": "string", "format": "date-time"},
        "modified": {"type": "string", "format": "date-time"},
    },
    required=("body",),
    read_only=("id", "from", "reply_to_id", "web_url", "created", "modified"),
)
CHANNEL_SCHEMA = record_schema(
    "Teams channel",
    {"id": {"type": "string"}, "name": {"type": "string"}, "membership_type": {"type": ["string", "null"]}},
    read_only=("id", "name", "membership_type"),
)
MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
TAGS = re.compile(r"<[^>]+>")
SEVERITY_COLOUR = {"info": "#2b6cb0", "warning": "#b7791f", "error": "#c53030", "critical": "#9b2c2c"}


class TeamsProvider(Provider):
    kind = "teams"
    title = "Microsoft Teams"
    default_base_url = "https://graph.microsoft.com"
    is_notification_channel = True
    default_page_size = 50
    settings_schema = {
        "type": "object",
        "properties": {
            "tenant_id": {"type": "string", "minLength": 1},
            "team_id": {"type": "string", "minLength": 1},
            "channel_id": {"type": "string", "minLength": 1},
            "login_url": {"type": "string", "format": "uri", "default": "https://login.microsoftonline.com"},
            "scope": {"type": "string", "default": "https://graph.microsoft.com/.default offline_access"},
        },
        "required": ["tenant_id", "team_id", "channel_id"],
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
            "client_state": {"type": "string", "minLength": 16, "maxLength": 128},
            "outgoing_webhook_token": {"type": "string", "minLength": 16, "description": "Base64, as Teams shows it."},
        },
        "required": ["client_id", "client_secret", "refresh_token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType(
            "message",
            "Channel messages",
            MESSAGE_SCHEMA,
            updated_field="modified",
            operations=("read", "get", "create", "update", "delete"),
        ),
        ObjectType("channel", "Channels", CHANNEL_SCHEMA, updated_field=None, incremental=False, operations=("read",)),
    )
    action_list = (
        ActionSpec(
            "post_message",
            "Post a message",
            "Posts a message (HTML allowed) to the connector's channel.",
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1, "maxLength": 28000},
                    "subject": {"type": "string", "maxLength": 255},
                },
                "required": ["text"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "web_url": {"type": ["string", "null"]}},
                "required": ["id"],
            },
            handler="post_message",
        ),
        ActionSpec(
            "update_message",
            "Update a message",
            "Replaces the body of a message the service account posted.",
            {
                "type": "object",
                "properties": {"id": {"type": "string", "minLength": 1}, "text": {"type": "string", "minLength": 1}},
                "required": ["id", "text"],
                "additionalProperties": False,
            },
            {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            handler="update_message",
        ),
        ActionSpec(
            "list_channels",
            "List channels",
            "Lists the channels of the connector's team.",
            {"type": "object", "properties": {}, "additionalProperties": False},
            {
                "type": "object",
                "properties": {
                    "channels": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                            "required": ["id", "name"],
                        },
                    }
                },
                "required": ["channels"],
            },
            handler="list_channels",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        login = self.settings.get("login_url", "https://login.microsoftonline.com").rstrip("/")
        self._oauth = OAuth2(
            self.connection,
            token_url=f"{login}/{quote(self.settings['tenant_id'])}/oauth2/v2.0/token",
            grant_type="refresh_token",
            scope=self.settings.get("scope", "https://graph.microsoft.com/.default offline_access"),
        )

    def authenticator(self) -> Authenticator:
        return self._oauth

    def _channel(self, suffix: str = "", channel: str | None = None) -> str:
        team = quote(self.settings["team_id"], safe="")
        return f"/v1.0/teams/{team}/channels/{quote(channel or self.settings['channel_id'], safe='')}{suffix}"

    def ping(self) -> None:
        self.http.request("GET", self._channel())

    # -- Records ------------------------------------------------------------------------------------------

    @staticmethod
    def message_record(item: dict[str, Any]) -> Record:
        sender = item.get("from") or {}
        who = (sender.get("user") or sender.get("application") or {}).get("displayName")
        data = {
            "id": item["id"],
            "subject": item.get("subject"),
            "body": (item.get("body") or {}).get("content", ""),
            "from": who,
            "reply_to_id": item.get("replyToId"),
            "web_url": item.get("webUrl"),
            "created": item.get("createdDateTime"),
            "modified": item.get("lastModifiedDateTime"),
        }
        return Record(
            "message",
            str(item["id"]),
            data,
            parse_timestamp(item.get("lastModifiedDateTime")),
            deleted=bool(item.get("deletedDateTime") or item.get("@removed")),
            version=item.get("etag"),
        )

    @staticmethod
    def channel_record(item: dict[str, Any]) -> Record:
        data = {"id": item["id"], "name": item.get("displayName"), "membership_type": item.get("membershipType")}
        return Record("channel", str(item["id"]), data, None)

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        cursor = Cursor.decode(since_cursor)
        if object_type == "channel":
            answer = self.http.json(
                "GET", cursor.token or f"/v1.0/teams/{quote(self.settings['team_id'], safe='')}/channels"
            )
            records = [self.channel_record(c) for c in answer.get("value", [])]
            next_link = answer.get("@odata.nextLink")
            return ChangePage(records, Cursor(token=next_link).encode() if next_link else None, bool(next_link))
        # The delta query is Graph's own change tracking: its links are the cursor.
        url = cursor.token or self._channel("/messages/delta")
        params = None if cursor.token else {"$top": min(page_size or self.default_page_size, 50)}
        answer = self.http.json("GET", url, params=params)
        records = sorted(
            (self.message_record(m) for m in answer.get("value", [])),
            key=lambda r: r.updated_at.timestamp() if r.updated_at else 0.0,
        )
        next_link = answer.get("@odata.nextLink")
        if next_link:
            return ChangePage(records, Cursor(token=next_link).encode(), True)
        return ChangePage(records, Cursor(token=answer.get("@odata.deltaLink")).encode(), False)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        return self.message_record(self.http.json("GET", self._channel(f"/messages/{quote(record_id)}")))

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        payload: dict[str, Any] = {"body": {"contentType": "html", "content": data["body"]}}
        if data.get("subject"):
            payload["subject"] = data["subject"]
        return self.message_record(self.http.json("POST", self._channel("/messages"), json=payload))

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        payload = {"body": {"contentType": "html", "content": data["body"]}}
        self.http.request("PATCH", self._channel(f"/messages/{quote(record_id)}"), json=payload)
        return self.get("message", record_id)

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self.http.request("POST", self._channel(f"/messages/{quote(record_id)}/softDelete"))

    # -- Actions ------------------------------------------------------------------------------------------

    def post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.create("message", {"body": payload["text"], "subject": payload.get("subject")})
        return {"id": record.id, "web_url": record.data.get("web_url")}

    def update_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.update("message", payload["id"], {"body": payload["text"]}).id}

    def list_channels(self, payload: dict[str, Any]) -> dict[str, Any]:
        page = self.read_changes("channel", None)
        return {"channels": [{"id": r.id, "name": str(r.data["name"])} for r in page.records]}

    # -- Notifications and chat commands ------------------------------------------------------------------

    def post_notification(self, *, channel: str, notification: Notification) -> dict[str, Any]:
        """`channel` is `<team-id>/<channel-id>`, or a channel id of the connector's team."""
        team, _, channel_id = channel.rpartition("/") if "/" in channel else (self.settings["team_id"], "", channel)
        facts = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in notification.facts)
        link = f'<p><a href="{html.escape(notification.link)}">Open in NOFX</a></p>' if notification.link else ""
        content = (
            f'<p><b style="color:{SEVERITY_COLOUR.get(notification.severity, "#2b6cb0")}">'
            f"{html.escape(notification.severity.upper())}</b> {html.escape(notification.title)}</p>"
            f"<p>{html.escape(notification.text)}</p>" + (f"<ul>{facts}</ul>" if facts else "") + link
        )
        team_part = quote(team or self.settings["team_id"], safe="")
        path = f"/v1.0/teams/{team_part}/channels/{quote(channel_id, safe='')}/messages"
        answer = self.http.json(
            "POST",
            path,
            json={"subject": notification.title[:255], "body": {"contentType": "html", "content": content}},
        )
        return {"id": answer["id"]}

    def chat_reply(self, *, summary: str, lines: list[str]) -> WebhookReply:
        text = f"<b>{html.escape(summary)}</b>" + "".join(f"<br>{html.escape(line)}" for line in lines)
        return WebhookReply.json({"type": "message", "text": text})

    # -- Inbound ----------------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        credentials = self.credentials
        token = request.query.get("validationToken")
        if token:
            # Graph's subscription handshake: echo the token, as text/plain, within 10 seconds.
            return VerifiedWebhook("", "subscription.validation", reply=WebhookReply.text(token), kind="challenge")
        authorization = request.header("authorization")
        if authorization.startswith("HMAC "):
            return self._verify_outgoing_webhook(request, authorization[5:], credentials.get("outgoing_webhook_token"))
        secret = credentials.get("client_state")
        if not secret:
            raise WebhookRejected("not_configured", "No clientState is configured for this connector.")
        payload = request.json()
        notifications = payload.get("value") if isinstance(payload, dict) else None
        if not notifications or not isinstance(notifications, list):
            raise WebhookRejected("malformed_body", "Not a Graph change notification.")
        for item in notifications:
            if not hmac.compare_digest(str(item.get("clientState", "")).encode(), secret.encode()):
                raise WebhookRejected("bad_signature", "A notification's clientState does not match.")
        kinds = sorted({str(item.get("changeType")) for item in notifications})
        return VerifiedWebhook("", f"change_notification.{'+'.join(kinds)}")

    def _verify_outgoing_webhook(self, request: InboundRequest, presented: str, token: str | None) -> VerifiedWebhook:
        if not token:
            raise WebhookRejected("not_configured", "No outgoing-webhook security token is configured.")
        try:
            key = base64.b64decode(token, validate=True)
        except binascii.Error as exc:
            raise WebhookRejected("not_configured", "The outgoing-webhook token is not base64.") from exc
        expected = base64.b64encode(hmac_sha256(key, request.body)).decode()
        if not hmac.compare_digest(expected.encode(), presented.strip().encode()):
            raise WebhookRejected("bad_signature", "The HMAC does not match the body.")
        activity = request.json() or {}
        text = TAGS.sub("", MENTION.sub("", str(activity.get("text", "")))).strip()
        return VerifiedWebhook(
            str(activity.get("id", "")),
            "outgoing_webhook",
            signed_at=parse_timestamp(activity.get("timestamp")),
            kind="command",
            command=html.unescape(text),
        )

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        affected = []
        channel = self.settings.get("channel_id", "")
        kinds = set()
        for item in payload.get("value") or []:
            kinds.add(str(item.get("changeType")))
            resource = str(item.get("resource", ""))
            message_id = (item.get("resourceData") or {}).get("id")
            if message_id and f"channels('{channel}')" in resource:
                affected.append(RecordRef("message", str(message_id), deleted=item.get("changeType") == "deleted"))
        return WebhookEvent(event_type=f"change_notification.{'+'.join(sorted(kinds))}", affected=affected)
