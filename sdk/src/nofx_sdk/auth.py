"""Credentials for the CLI: where they are kept, and the OAuth2 authorization-code flow with PKCE.

The token is stored in `$NOFX_CONFIG_DIR/credentials.json` (default `~/.config/nofx/`), readable by the
owner only. `NOFX_TOKEN` and `NOFX_BASE_URL` override the stored values (for CI).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_SCOPES = ("extensions:read", "extensions:write")


@dataclass(frozen=True)
class Credentials:
    base_url: str
    token: str
    kind: str = "api_key"  # or "oauth"
    refresh_token: str | None = None
    client_id: str | None = None


def config_dir() -> Path:
    return Path(os.environ.get("NOFX_CONFIG_DIR") or Path.home() / ".config" / "nofx")


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def save_credentials(credentials: Credentials) -> Path:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created private from the start: the token must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials.__dict__, handle, indent=2)
    return path


def load_credentials() -> Credentials | None:
    """The stored credentials with the environment's overrides; None when there are none at all."""
    stored: dict[str, Any] = {}
    path = credentials_file()
    if path.is_file():
        stored = json.loads(path.read_text())
    token = os.environ.get("NOFX_TOKEN") or stored.get("token")
    if not token:
        return None
    base_url = os.environ.get("NOFX_BASE_URL") or stored.get("base_url") or DEFAULT_BASE_URL
    return Credentials(
        base_url=base_url,
        token=token,
        kind=stored.get("kind", "api_key") if not os.environ.get("NOFX_TOKEN") else "api_key",
        refresh_token=stored.get("refresh_token"),
        client_id=stored.get("client_id"),
    )


# -- OAuth2 authorization code + PKCE with a loopback redirect (RFC 8252) ---------------------------------


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OAuthError(Exception):
    """The authorization server refused, or the redirect did not carry a code for this login."""


@dataclass
class LoopbackRedirect:
    """A one-shot HTTP server on 127.0.0.1 that receives the authorization redirect."""

    server: HTTPServer
    result: dict[str, str]
    done: threading.Event

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def wait(self, timeout: float) -> dict[str, str]:
        if not self.done.wait(timeout):
            raise OAuthError("No authorization arrived in time.")
        return self.result

    def close(self) -> None:
        self.server.server_close()


def start_loopback(port: int = 0) -> LoopbackRedirect:
    result: dict[str, str] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            result.update({key: values[0] for key, values in query.items()})
            text = (
                b"You are signed in to the nofx CLI; you can close this tab."
                if "code" in result
                else b"Sign-in failed."
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            done.set()

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    return LoopbackRedirect(server=server, result=result, done=done)


def authorization_url(
    base_url: str, *, client_id: str, redirect_uri: str, challenge: str, state: str, scopes: tuple[str, ...]
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base_url.rstrip('/')}/o/authorize/?{urlencode(query)}"


def exchange_code(
    base_url: str, *, client_id: str, code: str, redirect_uri: str, verifier: str, client_secret: str | None = None
) -> dict[str, Any]:
    """Trade the authorization code for tokens. A public client (the usual CLI registration) sends no secret."""
    data = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if client_secret:
        data["client_secret"] = client_secret
    response = httpx.post(f"{base_url.rstrip('/')}/o/token/", data=data, timeout=30)
    if response.status_code != 200:
        raise OAuthError(f"The token endpoint answered {response.status_code}: {response.text[:300]}")
    return dict(response.json())


def check_redirect(result: dict[str, str], state: str) -> str:
    """The code of a redirect that belongs to this login (the state matches)."""
    if result.get("state") != state:
        raise OAuthError("The redirect's state does not match this login; not using it.")
    if "error" in result:
        raise OAuthError(f"Authorization refused: {result['error']} {result.get('error_description', '')}".strip())
    code = result.get("code")
    if not code:
        raise OAuthError("The redirect carried no authorization code.")
    return code
