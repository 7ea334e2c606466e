"""Slack Web API: messages of a channel, channels; a notification channel and the `/nofx` command.

Docs: https://api.slack.com/web (errors come as HTTP 200 with `ok: false`; cursor pagination with
`response_metadata.next_cursor`; 429 with `Retry-After`), request signing
(`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`, timestamps older than five
minutes refused), `url_verification` and slash commands.

`conversations.history` lists newest first and has no "changed since": a read asks for messages newer
than the watermark minus `edit_lookback_hours` and keeps those created or edited after the watermark,
so edits of recent messages are caught too. Its cursor walks a stable listing, so it is kept in ours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from apps.connectors.authentication import Authenticator, BearerToken
from apps.connectors.errors import RecordNotFound, WebhookRejected
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
from apps.connectors.providers.cursors import Cursor, snapshot_page
from apps.connectors.providers.signatures import check_hex_hmac, require_secret
from apps.connectors.transport import Outcome, ResponseVerdict

AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission"}
MISSING = {"channel_not_found", "message_not_found", "thread_not_found"}
SEVERITY_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "error": ":red_circle:",
    "critical": ":rotating_light:",
}

MESSAGE_SCHEMA = record_schema(
    "Slack message",
    {
        "ts": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "channel": {"type": "string"},
        "text": {"type": "string", "minLength": 1, "maxLength": 40000},
        "user": {"type": ["string", "null"]},
        "thread_ts": {"type": ["string", "null"]},
        "edited_ts": {"type": ["string", "null"]},
    },
    required=("text",),
    read_only=("ts", "user", "edited_ts"),
)
CHANNEL_SCHEMA = record_schema(
    "Slack channel",
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "is_private": {"type": "boolean"},
        "is_archived": {"type": "boolean"},
        "topic": {"type": "string"},
        "purpose": {"type": "string"},
        "num_members": {"type": "integer"},
    },
    read_only=("id", "name", "is_private", "is_archived", "topic", "purpose", "num_members"),
)
CHANNEL_ID = {"type": "string", "pattern": "^[CGD][A-Z0-9]{2,}$"}
MESSAGE_OUTPUT = {
    "type": "object",
    "properties": {"channel": {"type": "string"}, "ts": {"type": "string"}},
    "required": ["channel", "ts"],
}


def ts_moment(ts: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(ts), tz=UTC) if ts else None


class SlackProvider(Provider):
    kind = "slack"
    title = "Slack"
    default_base_url = "https://slack.com"
    is_notification_channel = True
    settings_schema = {
        "type": "object",
        "properties": {
            "channel": {**CHANNEL_ID, "description": "The channel whose messages are read and written."},
            "edit_lookback_hours": {"type": "integer", "minimum": 0, "maximum": 720, "default": 72},
        },
        "required": ["channel"],
        "additionalProperties": False,
    }
    credentials_schema = {
        "type": "object",
        "properties": {
            "bot_token": {"type": "string", "pattern": "^xox[bp]-"},
            "signing_secret": {"type": "string", "minLength": 16},
        },
        "required": ["bot_token"],
        "additionalProperties": False,
    }
    object_type_list = (
        ObjectType(
            "message",
            "Messages",
            MESSAGE_SCHEMA,
            id_field="ts",
            operations=("read", "get", "create", "update", "delete"),
        ),
        ObjectType("channel", "Channels", CHANNEL_SCHEMA, updated_field=None, incremental=False, operations=("read",)),
    )
    action_list = (
        ActionSpec(
            "post_message",
            "Post a message",
            "Posts a message to a channel (the connector's channel unless another is named), optionally in a thread.",
            {
                "type": "object",
                "properties": {
                    "channel": CHANNEL_ID,
                    "text": {"type": "string", "minLength": 1, "maxLength": 40000},
                    "thread_ts": {"type": "string", "pattern": r"^\d+\.\d+$"},
                },
                "required": ["text"],
                "additionalProperties": False,
            },
            MESSAGE_OUTPUT,
            handler="post_message",
        ),
        ActionSpec(
            "update_message",
            "Update a message",
            "Replaces the text of a message the app posted.",
            {
                "type": "object",
                "properties": {
                    "channel": CHANNEL_ID,
                    "ts": {"type": "string", "pattern": r"^\d+\.\d+$"},
                    "text": {"type": "string", "minLength": 1, "maxLength": 40000},
                },
                "required": ["ts", "text"],
                "additionalProperties": False,
            },
            MESSAGE_OUTPUT,
            handler="update_message",
        ),
        ActionSpec(
            "list_channels",
            "List channels",
            "Lists the public channels of the workspace.",
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

    def authenticator(self) -> Authenticator:
        return BearerToken(self.credentials["bot_token"])

    def classify_response(self, response: httpx.Response) -> ResponseVerdict | None:
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("ok", True):
            return None
        error = str(body.get("error", "unknown_error"))
        if error in AUTH_ERRORS:
            return ResponseVerdict(Outcome.UNAUTHORIZED, f"Slack refused the token: {error}.")
        if error == "ratelimited":
            return ResponseVerdict(Outcome.RATE_LIMITED, "Slack rate limit.")
        if error in MISSING:
            return ResponseVerdict(Outcome.NOT_FOUND, f"Slack: {error}.")
        if error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            return ResponseVerdict(Outcome.TRANSIENT, f"Slack: {error}.")
        return ResponseVerdict(Outcome.INVALID, f"Slack: {error}.")

    def _api(self, method: str, *, params: dict[str, Any] | None = None, json: dict[str, Any] | None = None) -> Any:
        if json is not None:
            return self.http.json(
                "POST", f"/api/{method}", json=json, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        return self.http.json("GET", f"/api/{method}", params=params or {})

    def ping(self) -> None:
        self._api("auth.test", json={})

    # -- Records ------------------------------------------------------------------------------------------

    def message_record(self, item: dict[str, Any], channel: str) -> Record:
        edited = (item.get("edited") or {}).get("ts")
        data = {
            "ts": item["ts"],
            "channel": channel,
            "text": item.get("text", ""),
            "user": item.get("user") or item.get("bot_id"),
            "thread_ts": item.get("thread_ts"),
            "edited_ts": edited,
        }
        return Record("message", item["ts"], data, ts_moment(edited or item["ts"]))

    @staticmethod
    def channel_record(item: dict[str, Any]) -> Record:
        data = {
            "id": item["id"],
            "name": item.get("name"),
            "is_private": item.get("is_private", False),
            "is_archived": item.get("is_archived", False),
            "topic": (item.get("topic") or {}).get("value", ""),
            "purpose": (item.get("purpose") or {}).get("value", ""),
            "num_members": item.get("num_members", 0),
        }
        return Record("channel", item["id"], data, None)

    def read_changes(
        self, object_type: str, since_cursor: str | None = None, *, page_size: int | None = None
    ) -> ChangePage:
        self.object_type(object_type, "read")
        cursor = Cursor.decode(since_cursor)
        limit = min(page_size or self.default_page_size, 999)
        if object_type == "channel":
            params: dict[str, Any] = {"limit": limit, "types": "public_channel", "exclude_archived": "false"}
            if cursor.token:
                params["cursor"] = cursor.token
            answer = self._api("conversations.list", params=params)
            records = [self.channel_record(c) for c in answer.get("channels", [])]
            next_token = (answer.get("response_metadata") or {}).get("next_cursor")
            return ChangePage(records, Cursor(token=next_token).encode() if next_token else None, bool(next_token))
        channel = self.settings["channel"]
        params = {"channel": channel, "limit": limit}
        if cursor.watermark is not None:
            lookback = timedelta(hours=self.settings.get("edit_lookback_hours", 72))
            params["oldest"] = f"{(cursor.watermark - lookback).timestamp():.6f}"
        if cursor.token:
            params["cursor"] = cursor.token
        answer = self._api("conversations.history", params=params)
        records = [self.message_record(m, channel) for m in answer.get("messages", [])]
        next_token = (answer.get("response_metadata") or {}).get("next_cursor") if answer.get("has_more") else None
        return snapshot_page(cursor, records, next_token or None)

    def get(self, object_type: str, record_id: str) -> Record:
        self.object_type(object_type, "get")
        channel = self.settings["channel"]
        answer = self._api(
            "conversations.history", params={"channel": channel, "latest": record_id, "inclusive": "true", "limit": 1}
        )
        messages = [m for m in answer.get("messages", []) if m.get("ts") == record_id]
        if not messages:
            raise RecordNotFound(f"No message {record_id} in {channel}.", status=404)
        return self.message_record(messages[0], channel)

    def create(self, object_type: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        self.object_type(object_type, "create")
        channel = data.get("channel") or self.settings["channel"]
        payload = {"channel": channel, "text": data["text"]}
        if data.get("thread_ts"):
            payload["thread_ts"] = data["thread_ts"]
        answer = self._api("chat.postMessage", json=payload)
        return self.message_record(answer["message"], answer["channel"])

    def update(self, object_type: str, record_id: str, data: dict[str, Any]) -> Record:
        self.object_type(object_type, "update")
        channel = data.get("channel") or self.settings["channel"]
        answer = self._api("chat.update", json={"channel": channel, "ts": record_id, "text": data["text"]})
        return self.message_record(answer["message"], answer["channel"])

    def delete(self, object_type: str, record_id: str) -> None:
        self.object_type(object_type, "delete")
        self._api("chat.delete", json={"channel": self.settings["channel"], "ts": record_id})

    # -- Actions ------------------------------------------------------------------------------------------

    def post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.create("message", payload)
        return {"channel": str(record.data["channel"]), "ts": record.id}

    def update_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = self.update("message", payload["ts"], payload)
        return {"channel": str(record.data["channel"]), "ts": record.id}

    def list_channels(self, payload: dict[str, Any]) -> dict[str, Any]:
        channels, cursor = [], None
        while True:
            page = self.read_changes("channel", cursor, page_size=200)
            channels += [{"id": r.id, "name": str(r.data["name"])} for r in page.records]
            if not page.has_more:
                return {"channels": channels}
            cursor = page.next_cursor

    # -- Notifications and chat commands ------------------------------------------------------------------

    def post_notification(self, *, channel: str, notification: Notification) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": notification.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": notification.text[:3000]}},
        ]
        if notification.facts:
            blocks.append(
                {
                    "type": "section",
                    "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in notification.facts[:10]],
                }
            )
        context = f"{SEVERITY_EMOJI.get(notification.severity, '')} {notification.severity}"
        if notification.link:
            context += f" | <{notification.link}|Open in NOFX>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        answer = self._api("chat.postMessage", json={"channel": channel, "text": notification.title, "blocks": blocks})
        return {"channel": answer["channel"], "ts": answer["ts"]}

    def chat_reply(self, *, summary: str, lines: list[str]) -> WebhookReply:
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*"}}]
        if lines:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {line}" for line in lines)[:3000]}}
            )
        return WebhookReply.json({"response_type": "ephemeral", "text": summary, "blocks": blocks})

    # -- Signed requests ------------------------------------------------------------------------------------

    def verify_webhook(self, request: InboundRequest) -> VerifiedWebhook:
        secret = require_secret(self.credentials.get("signing_secret"))
        timestamp = request.header("x-slack-request-timestamp")
        if not timestamp.isdigit():
            raise WebhookRejected("missing_signature", "X-Slack-Request-Timestamp is missing.")
        check_hex_hmac(
            secret=secret,
            message=b"v0:" + timestamp.encode() + b":" + request.body,
            presented=request.header("x-slack-signature"),
            prefix="v0=",
        )
        signed_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
        if "application/x-www-form-urlencoded" in request.header("content-type"):
            form = request.form()
            if form.get("command"):
                return VerifiedWebhook(
                    form.get("trigger_id", ""),
                    "slash_command",
                    signed_at=signed_at,
                    kind="command",
                    command=form.get("text", ""),
                )
            raise WebhookRejected("malformed_body", "Only slash commands arrive form-encoded here.")
        payload = request.json()
        if not isinstance(payload, dict):
            raise WebhookRejected("malformed_body", "Not a Slack event.")
        if payload.get("type") == "url_verification":
            reply = WebhookReply.json({"challenge": str(payload.get("challenge", ""))})
            return VerifiedWebhook("", "url_verification", signed_at=signed_at, reply=reply, kind="challenge")
        event = payload.get("event") or {}
        return VerifiedWebhook(
            str(payload.get("event_id", "")), f"event_callback.{event.get('type', '')}", signed_at=signed_at
        )

    def parse_webhook(self, request: InboundRequest) -> WebhookEvent:
        payload = request.json() or {}
        event = payload.get("event") or {}
        kind, subtype = event.get("type"), event.get("subtype")
        affected = []
        if kind == "message" and event.get("channel") == self.settings.get("channel"):
            if subtype == "message_changed":
                affected.append(RecordRef("message", str((event.get("message") or {}).get("ts"))))
            elif subtype == "message_deleted":
                affected.append(RecordRef("message", str(event.get("deleted_ts")), deleted=True))
            elif event.get("ts"):
                affected.append(RecordRef("message", str(event["ts"])))
        elif kind in ("channel_created", "channel_rename", "channel_archive", "channel_unarchive"):
            channel = event.get("channel")
            channel_id = channel.get("id") if isinstance(channel, dict) else channel
            if channel_id:
                affected.append(RecordRef("channel", str(channel_id)))
        return WebhookEvent(event_type=f"{kind}.{subtype}" if subtype else str(kind), affected=affected)
