"""Microsoft Graph (teams, channels, channel messages) with its Entra ID token endpoint, for Teams.

OAuth2 at `/{tenant}/oauth2/v2.0/token` (refresh-token grant rotating the refresh token, and client
credentials), `InvalidAuthenticationToken` 401s, channel messages with `@odata.nextLink` pages and the
`/messages/delta` query ending in an `@odata.deltaLink`, message post/update/softDelete, 429 with
`Retry-After`, change notifications (`validationToken` handshake, `clientState` in each notification)
and outgoing webhooks signed `Authorization: HMAC <base64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from apps.connectors.sandboxes.server import (
    Handler,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    WebhookCall,
    respond,
    retry_after_text,
)

TENANT_ID = "8f7c5a1e-0d2b-4c6e-9a3f-1b2c3d4e5f60"
TEAM_ID = "19a6e5c4-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
CHANNEL_ID = "19:sandboxgeneral@thread.tacv2"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "sandbox~client~secret~Q8"  # noqa: S105 - the sandbox's own fake credential
REFRESH_TOKEN = "0.AXsandbox-refresh-token"  # noqa: S105


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _untoken(value: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(value.encode()))
    return loaded


class TeamsSandbox(Sandbox):
    name = "teams"
    title = "Microsoft Teams (Graph)"
    default_port = 8708

    def reset_data(self) -> None:
        self.channels = {
            CHANNEL_ID: {"id": CHANNEL_ID, "displayName": "General", "membershipType": "standard"},
            "19:alerts@thread.tacv2": {
                "id": "19:alerts@thread.tacv2",
                "displayName": "Integration alerts",
                "membershipType": "standard",
            },
        }
        self.messages: dict[str, dict[str, dict[str, Any]]] = {channel: {} for channel in self.channels}
        self.access_tokens: set[str] = set()
        self.refresh_tokens = {REFRESH_TOKEN}
        self.token_requests = 0
        self.sequence = 0

    # -- Data ---------------------------------------------------------------------------------------------

    def post(
        self, content: str, *, channel: str = CHANNEL_ID, at: datetime | None = None, subject: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            moment = at or self.now()
            self.sequence += 1
            message_id = str(int(moment.timestamp() * 1000) * 1000 + self.sequence)
            stamp = graph_time(moment)
            message = {
                "id": message_id,
                "replyToId": None,
                "etag": message_id,
                "messageType": "message",
                "createdDateTime": stamp,
                "lastModifiedDateTime": stamp,
                "lastEditedDateTime": None,
                "deletedDateTime": None,
                "subject": subject,
                "body": {"contentType": "html", "content": content},
                "from": {"user": {"id": "u-1", "displayName": "Sandbox User"}},
                "channelIdentity": {"teamId": TEAM_ID, "channelId": channel},
                "webUrl": f"https://teams.microsoft.com/l/message/{quote(channel)}/{message_id}",
            }
            self.messages[channel][message_id] = message
            return message

    def seed_messages(self, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        for i in range(count):
            self.post(f"<p>Seeded message {i}</p>", at=start + step * i)

    def edit(self, message_id: str, content: str, *, channel: str = CHANNEL_ID) -> dict[str, Any]:
        with self.lock:
            message = self.messages[channel][message_id]
            message["body"]["content"] = content
            message["lastModifiedDateTime"] = message["lastEditedDateTime"] = graph_time(self.now())
            return message

    # -- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        channel = r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)"
        return [
            ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self.token),
            ("GET", r"/v1\.0/teams/(?P<team>[^/]+)/channels", self.list_channels),
            ("GET", channel, self.get_channel),
            ("GET", channel + "/messages/delta", self.delta),
            ("GET", channel + "/messages", self.list_messages),
            ("POST", channel + "/messages", self.create_message),
            ("GET", channel + r"/messages/(?P<message_id>\d+)", self.get_message),
            ("PATCH", channel + r"/messages/(?P<message_id>\d+)", self.update_message),
            ("POST", channel + r"/messages/(?P<message_id>\d+)/softDelete", self.soft_delete),
        ]

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path.endswith("/oauth2/v2.0/token"):
            return None
        scheme, _, token = request.header("authorization").partition(" ")
        if scheme == "Bearer" and token in self.access_tokens:
            return None
        return respond(
            {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "Access token validation failure. Invalid audience.",
                }
            },
            401,
        )

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond(
            {"error": {"code": "TooManyRequests", "message": "Please retry again later."}},
            429,
            {"Retry-After": retry_after_text(retry_after)},
        )

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def token(self, request: SandboxRequest, tenant: str) -> SandboxResponse:
        form = request.form()
        self.token_requests += 1
        if tenant != TENANT_ID:
            return respond({"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."}, 400)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return respond(
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}, 401
            )
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return respond(
                    {"error": "invalid_grant", "error_description": "AADSTS70008: The refresh token has expired."}, 400
                )
            # Entra ID hands out a new refresh token with every refresh.
            body["refresh_token"] = "0.AXrotated-" + secrets.token_urlsafe(12)
            self.refresh_tokens.add(body["refresh_token"])
        elif form.get("grant_type") != "client_credentials":
            return respond({"error": "unsupported_grant_type"}, 400)
        body["access_token"] = "eyJ0eXAiOi.sandbox." + secrets.token_urlsafe(24)
        body["scope"] = form.get("scope", "")
        self.access_tokens.add(body["access_token"])
        return respond(body)

    def _channel(self, team: str, channel: str) -> dict[str, dict[str, Any]] | None:
        if team != TEAM_ID:
            return None
        return self.messages.get(unquote(channel))

    def _not_found(self) -> SandboxResponse:
        return respond({"error": {"code": "NotFound", "message": "Resource not found."}}, 404)

    def list_channels(self, request: SandboxRequest, team: str) -> SandboxResponse:
        if team != TEAM_ID:
            return self._not_found()
        return respond(
            {"@odata.context": "...", "@odata.count": len(self.channels), "value": list(self.channels.values())}
        )

    def get_channel(self, request: SandboxRequest, team: str, channel: str) -> SandboxResponse:
        found = self.channels.get(unquote(channel)) if team == TEAM_ID else None
        return respond(found) if found else self._not_found()

    def list_messages(self, request: SandboxRequest, team: str, channel: str) -> SandboxResponse:
        rows = self._channel(team, channel)
        if rows is None:
            return self._not_found()
        top = min(request.int_arg("$top", 20), 50)
        skip = _untoken(request.arg("$skiptoken") or _token({"skip": 0}))["skip"]
        newest = sorted(rows.values(), key=lambda m: m["lastModifiedDateTime"], reverse=True)
        body: dict[str, Any] = {"value": newest[skip : skip + top]}
        if skip + top < len(newest):
            body["@odata.nextLink"] = f"{self.url}{request.path}?$top={top}&$skiptoken={_token({'skip': skip + top})}"
        return respond(body)

    def delta(self, request: SandboxRequest, team: str, channel: str) -> SandboxResponse:
        rows = self._channel(team, channel)
        if rows is None:
            return self._not_found()
        if request.arg("$deltatoken"):
            state = _untoken(request.arg("$deltatoken") or "") | {"upto": graph_time(self.now()), "skip": 0}
        elif request.arg("$skiptoken"):
            state = _untoken(request.arg("$skiptoken") or "")
        else:
            state = {
                "after": None,
                "upto": graph_time(self.now()),
                "skip": 0,
                "top": min(request.int_arg("$top", 20), 50),
            }
        changed = sorted(
            (
                m
                for m in rows.values()
                if (state["after"] is None or m["lastModifiedDateTime"] > state["after"])
                and m["lastModifiedDateTime"] <= state["upto"]
            ),
            key=lambda m: (m["lastModifiedDateTime"], m["id"]),
        )
        top, skip = state.get("top", 20), state["skip"]
        body: dict[str, Any] = {"value": changed[skip : skip + top]}
        base = f"{self.url}{request.path}"
        if skip + top < len(changed):
            body["@odata.nextLink"] = f"{base}?$skiptoken={_token({**state, 'skip': skip + top})}"
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken={_token({'after': state['upto'], 'top': top})}"
        return respond(body)

    def get_message(self, request: SandboxRequest, team: str, channel: str, message_id: str) -> SandboxResponse:
        message = (self._channel(team, channel) or {}).get(message_id)
        return respond(message) if message else self._not_found()

    def create_message(self, request: SandboxRequest, team: str, channel: str) -> SandboxResponse:
        rows = self._channel(team, channel)
        if rows is None:
            return self._not_found()
        payload = request.json() or {}
        content = (payload.get("body") or {}).get("content")
        if not content:
            return respond({"error": {"code": "BadRequest", "message": "Missing body content"}}, 400)
        message = self.post(content, channel=unquote(channel), subject=payload.get("subject"))
        return respond(message, 201)

    def update_message(self, request: SandboxRequest, team: str, channel: str, message_id: str) -> SandboxResponse:
        message = (self._channel(team, channel) or {}).get(message_id)
        if message is None:
            return self._not_found()
        content = ((request.json() or {}).get("body") or {}).get("content")
        if not content:
            return respond({"error": {"code": "BadRequest", "message": "Missing body content"}}, 400)
        self.edit(message_id, content, channel=unquote(channel))
        return respond(None, 204)

    def soft_delete(self, request: SandboxRequest, team: str, channel: str, message_id: str) -> SandboxResponse:
        message = (self._channel(team, channel) or {}).get(message_id)
        if message is None:
            return self._not_found()
        message["deletedDateTime"] = message["lastModifiedDateTime"] = graph_time(self.now())
        return respond(None, 204)

    # -- What Graph and Teams send us ---------------------------------------------------------------------

    def change_notification(
        self, change_type: str, message_id: str, client_state: str, *, channel: str = CHANNEL_ID
    ) -> WebhookCall:
        resource = f"teams('{TEAM_ID}')/channels('{channel}')/messages('{message_id}')"
        body = json.dumps(
            {
                "value": [
                    {
                        "subscriptionId": str(uuid.UUID(int=5)),
                        "subscriptionExpirationDateTime": graph_time(self.now() + timedelta(minutes=50)),
                        "changeType": change_type,
                        "resource": resource,
                        "resourceData": {
                            "@odata.type": "#Microsoft.Graph.chatMessage",
                            "@odata.id": resource,
                            "id": message_id,
                        },
                        "clientState": client_state,
                        "tenantId": TENANT_ID,
                    }
                ]
            }
        ).encode()
        return WebhookCall(headers={"Content-Type": "application/json"}, body=body)

    def validation_request(self, token: str = "Validation: Testing client application reachability") -> WebhookCall:  # noqa: S107 - Graph's handshake text, not a secret
        return WebhookCall(headers={"Content-Type": "text/plain"}, body=b"", query=f"validationToken={quote(token)}")

    def outgoing_webhook(self, text: str, security_token: str, *, sent_at: datetime | None = None) -> WebhookCall:
        """An outgoing webhook call: the @-mention of the bot in a channel, HMAC-signed with the team's token."""
        body = json.dumps(
            {
                "type": "message",
                "id": str(uuid.uuid4().int % 10**13),
                "timestamp": graph_time(sent_at or self.now()),
                "serviceUrl": "https://smba.trafficmanager.net/emea/",
                "channelId": "msteams",
                "from": {"id": "29:1abc", "name": "Sandbox User", "aadObjectId": "u-1"},
                "conversation": {"id": f"{CHANNEL_ID};messageid=1", "conversationType": "channel"},
                "recipient": None,
                "text": f"<at>nofx</at> {text}",
                "channelData": {"teamsTeamId": TEAM_ID, "teamsChannelId": CHANNEL_ID, "tenant": {"id": TENANT_ID}},
            }
        ).encode()
        signature = base64.b64encode(hmac.new(base64.b64decode(security_token), body, hashlib.sha256).digest()).decode()
        return WebhookCall(
            headers={"Content-Type": "application/json", "Authorization": f"HMAC {signature}"}, body=body
        )

    # -- Demo ---------------------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        return {
            "provider": "teams",
            "settings": {"tenant_id": TENANT_ID, "team_id": TEAM_ID, "channel_id": CHANNEL_ID, "login_url": self.url},
            "credentials": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
        }

    def webhook_secret_field(self) -> str:
        return "client_state"

    def seed_demo(self) -> None:
        self.seed_messages(3, start=self.now() - timedelta(hours=5), step=timedelta(hours=1))

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        message = self.post(f"<p>Demo message {self.sequence + 1}</p>")
        return self.change_notification("created", message["id"], secret)
