from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def developer_client(developer: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(developer)
    return client


class AppServer:
    """A loopback HTTP server standing in for an extension's hosted app. It records every request and
    answers the handshake by echoing the challenge (unless told otherwise)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.echo_challenge = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                import json

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                payload: dict[str, Any] = {}
                try:
                    sent = json.loads(body or b"{}")
                except ValueError:
                    sent = {}
                if server.echo_challenge and isinstance(sent, dict) and "challenge" in sent:
                    payload = {"challenge": sent["challenge"]}
                data = json.dumps(payload).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def app_server(settings: Any) -> Any:
    """The hosted app on loopback; private addresses are allowed for this test, as for the sandboxes."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    server = AppServer()
    yield server
    server.close()
