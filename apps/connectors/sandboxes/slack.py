"""Slack Web API (`https://slack.com/api/{method}`) for channels and messages, and the Events API.

Bearer bot tokens; errors as HTTP 200 with `{"ok": false, "error": ...}`; cursor pagination
(`cursor`/`limit` in, `response_metadata.next_cursor` out); `conversations.history` newest first with
`oldest`; `chat.postMessage`/`chat.update`/`chat.delete`; 429 with `Retry-After`; signed requests
(`X-Slack-Signature: v0=...` over `v0:{timestamp}:{body}`) for events, `url_verification` and slash
commands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    respond,
    retry_after_text,
)

BOT_TOKEN = "xoxb-sandbox-0000-111122223333-abcdefABCDEF"  # noqa: S105 - the sandbox's own fake credential
TEAM_ID, CHANNEL_ID = "T0SANDBOX", "C0GENERAL1"


def slack_ts(moment: datetime, sequence: int = 0) -> str:
    return f"{int(moment.timestamp())}.{sequence:06d}"


class SlackSandbox(Sandbox):
    name = "slack"
    title = "Slack"
    default_port = 8707

    def reset_data(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        self.sequence = 0
        self.add_channel(CHANNEL_ID, "general")
        self.add_channel("C0SYNCFAIL", "integration-alerts")

    # -- Data ---------------------------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str) -> dict[str, Any]:
        with self.lock:
            channel = {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "created": int(time.time()) - 86400,
                "topic": {"value": ""},
                "purpose": {"value": f"The {name} channel"},
                "num_members": 3,
            }
            self.channels[channel_id] = channel
            self.messages.setdefault(channel_id, {})
            return channel

    def post(self, text: str, *, channel: str = CHANNEL_ID, at: datetime | None = None, **extra: Any) -> dict[str, Any]:
        with self.lock:
            self.sequence += 1
            message = {
                "type": "message",
                "user": "U0SANDBOX",
                "text": text,
                "ts": slack_ts(at or self.now(), self.sequence),
                **extra,
            }
            self.messages[channel][message["ts"]] = message
            return message

    def seed_messages(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.post(f"Seeded message {i}", at=start + step * i)

    def edit(self, ts: str, text: str, *, channel: str = CHANNEL_ID) -> dict[str, Any]:
        with self.lock:
            self.sequence += 1
            message = self.messages[channel][ts]
            message["text"] = text
            message["edited"] = {"user": "U0SANDBOX", "ts": slack_ts(self.now(), self.sequence)}
            return message

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/api/auth.test", self.auth_test),
            ("GET", "/api/conversations.list", self.conversations_list),
            ("GET", "/api/conversations.history", self.conversations_history),
            ("POST", "/api/chat.postMessage", self.post_message),
            ("POST", "/api/chat.update", self.update_message),
            ("POST", "/api/chat.delete", self.delete_message),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.header("authorization") == f"Bearer {BOT_TOKEN}":
            return None
        # Slack reports auth problems with HTTP 200 and ok: false.
        return respond({"ok": False, "error": "invalid_auth"})

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": retry_after_text(retry_after)})

    @staticmethod
    def _args(request: SandboxRequest) -> dict[str, Any]:
        if "json" in request.header("content-type"):
            return request.json() or {}
        if request.method == "POST":
            return request.form()
        return {k: v[-1] for k, v in request.query.items()}

    @staticmethod
    def _page(items: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str]:
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return chunk, base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""

    def auth_test(self, request: SandboxRequest) -> SandboxResponse:
        return respond(
            {
                "ok": True,
                "url": "https://nofx-sandbox.slack.com/",
                "team": "NOFX Sandbox",
                "team_id": TEAM_ID,
                "user_id": "U0BOT",
                "bot_id": "B0BOT",
            }
        )

    def conversations_list(self, request: SandboxRequest) -> SandboxResponse:
        args = self._args(request)
        channels = sorted(self.channels.values(), key=lambda c: c["name"])
        chunk, next_cursor = self._page(channels, args.get("cursor"), min(int(args.get("limit") or 100), 1000))
        return respond({"ok": True, "channels": chunk, "response_metadata": {"next_cursor": next_cursor}})

    def conversations_history(self, request: SandboxRequest) -> SandboxResponse:
        args = self._args(request)
        channel = self.messages.get(str(args.get("channel")))
        if channel is None:
            return respond({"ok": False, "error": "channel_not_found"})
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or "inf")
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        newest_first = sorted(
            (m for m in channel.values() if within(float(m["ts"]))), key=lambda m: float(m["ts"]), reverse=True
        )
        chunk, next_cursor = self._page(newest_first, args.get("cursor"), min(int(args.get("limit") or 100), 999))
        return respond(
            {
                "ok": True,
                "messages": chunk,
                "has_more": bool(next_cursor),
                "response_metadata": {"next_cursor": next_cursor},
            }
        )

    def post_message(self, request: SandboxRequest) -> SandboxResponse:
        args = self._args(request)
        channel = str(args.get("channel"))
        if channel not in self.messages:
            return respond({"ok": False, "error": "channel_not_found"})
        if not args.get("text") and not args.get("blocks"):
            return respond({"ok": False, "error": "no_text"})
        message = self.post(
            str(args.get("text") or ""), channel=channel, **({"blocks": args["blocks"]} if args.get("blocks") else {})
        )
        return respond({"ok": True, "channel": channel, "ts": message["ts"], "message": message})

    def update_message(self, request: SandboxRequest) -> SandboxResponse:
        args = self._args(request)
        channel, ts = str(args.get("channel")), str(args.get("ts"))
        if ts not in self.messages.get(channel, {}):
            return respond({"ok": False, "error": "message_not_found"})
        message = self.edit(ts, str(args.get("text") or ""), channel=channel)
        return respond({"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message})

    def delete_message(self, request: SandboxRequest) -> SandboxResponse:
        args = self._args(request)
        channel, ts = str(args.get("channel")), str(args.get("ts"))
        if self.messages.get(channel, {}).pop(ts, None) is None:
            return respond({"ok": False, "error": "message_not_found"})
        return respond({"ok": True, "channel": channel, "ts": ts})

    # -- Signed requests from Slack -----------------------------------------------------------------------

    @staticmethod
    def _signed(body: bytes, secret: str, content_type: str, sent_at: datetime | None) -> WebhookCall:
        timestamp = str(int(sent_at.timestamp() if sent_at else time.time()))
        digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return WebhookCall(
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": f"v0={digest}",
                "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            },
            body=body,
        )

    def event(self, event: dict[str, Any], secret: str, *, sent_at: datetime | None = None) -> WebhookCall:
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": "A0NOFX",
                "event": event,
                "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(time.time()),
            }
        ).encode()
        return self._signed(body, secret, "application/json", sent_at)

    def url_verification(
        self, secret: str, challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    ) -> WebhookCall:
        body = json.dumps({"token": "legacy", "challenge": challenge, "type": "url_verification"}).encode()
        return self._signed(body, secret, "application/json", None)

    def slash_command(self, text: str, secret: str, *, sent_at: datetime | None = None) -> WebhookCall:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "channel_id": CHANNEL_ID,
                "user_id": "U0SANDBOX",
                "command": "/nofx",
                "text": text,
                "response_url": "https://hooks.slack.com/commands/T0SANDBOX/1/abc",
                "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**9}",
            }
        ).encode()
        return self._signed(body, secret, "application/x-www-form-urlencoded", sent_at)

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {"provider": "slack", "settings": {"channel": CHANNEL_ID}, "credentials": {"bot_token": BOT_TOKEN}}

    def webhook_secret_field(self) -> str:
        return "signing_secret"

    def seed_demo(self) -> None:
        self.seed_messages(3, start=self.now() - timedelta(hours=5), step=timedelta(hours=1))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        message = self.post(f"Demo message {self.sequence + 1}")
        event = {
            "type": "message",
            "channel": CHANNEL_ID,
            "user": "U0SANDBOX",
            "text": message["text"],
            "ts": message["ts"],
        }
        return self.event(event, secret)
