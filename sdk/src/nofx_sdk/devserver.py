"""`nofx ext dev`: a local loop for agent and analytics apps (and any extension's manifest).

- Watches the extension's files (polling their modification times, no extra dependency) and re-runs the
  platform's validate and scan rules on every change.
- Serves the app's webhook endpoint on loopback at `/webhooks`, verifying each delivery's signature exactly
  as the platform signs it, and hands verified events to `handle(event)` in the extension's `app/handler.py`
  (the hosted app's own code, never packaged), reloaded whenever it changes: the hot reload.
- Replays `tests/sample-events.json` to that endpoint, signed, as the platform would deliver them.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from nofx_sdk import checking
from nofx_sdk.packaging import pack_directory, packaged_files
from nofx_sdk.rules import PackageContext
from nofx_sdk.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    WebhookVerificationError,
    signature_headers,
    verified_event,
)

Handler = Callable[[dict[str, Any]], Any]


def load_handler(directory: Path) -> Handler | None:
    """`handle` from the extension's app/handler.py, freshly imported (so edits take effect at once)."""
    source = directory / "app" / "handler.py"
    if not source.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"nofx_dev_app_{uuid.uuid4().hex}", source)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handle = getattr(module, "handle", None)
    return handle if callable(handle) else None


def signed_delivery(secret: str, event: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery as the platform sends it."""
    delivery_id = str(uuid.uuid4())
    payload = {
        "id": delivery_id,
        "event": event,
        "installation_id": "00000000-0000-0000-0000-000000000001",
        "organization_id": "00000000-0000-0000-0000-000000000002",
        "extension": "local.dev",
        "version": "0.0.0",
        "data": data,
    }
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        **signature_headers(secret, body),
    }
    return body, headers


class DevServer:
    poll_seconds = 0.5

    def __init__(self, directory: Path, *, port: int, secret: str, echo: Callable[[str], None]) -> None:
        self.directory = directory
        self.port = port
        self.secret = secret
        self.echo = echo
        self.handler = load_handler(directory)
        self.received: list[dict[str, Any]] = []
        # Set by a caller (a test, a signal handler) to end `run()`; set by `run()` once it serves.
        self.stopping = threading.Event()
        self.serving = threading.Event()

    # -- validation and reload --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, float]:
        watched = [
            *packaged_files(self.directory),
            *(p.relative_to(self.directory) for p in self.directory.glob("app/*.py")),
        ]
        return {str(p): (self.directory / p).stat().st_mtime for p in watched}

    def revalidate(self) -> bool:
        findings = checking.validate_and_scan(pack_directory(self.directory), PackageContext())
        for finding in findings:
            self.echo(f"  {finding.severity.upper():7} {finding}")
        ok = not checking.blocking(findings)
        self.echo("Valid." if ok else "Blocking findings: the platform would reject this version.")
        self.handler = load_handler(self.directory)
        return ok

    # -- the webhook endpoint ---------------------------------------------------------------------------

    def _http_server(self) -> ThreadingHTTPServer:
        dev = self

        class Endpoint(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/webhooks":
                    self._answer(404, {"detail": "POST webhooks to /webhooks"})
                    return
                try:
                    event = verified_event(dev.secret, body, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    dev.echo(f"Refused a delivery: {exc}")
                    self._answer(401, {"detail": str(exc)})
                    return
                dev.received.append(event)
                result = dev.handler(event) if dev.handler else None
                dev.echo(f"Delivered {event.get('event')} -> {result!r}")
                self._answer(200, {"ok": True, "result": result})

        return ThreadingHTTPServer(("127.0.0.1", self.port), Endpoint)

    def replay(self, base_url: str) -> list[dict[str, Any]]:
        samples_file = self.directory / "tests" / "sample-events.json"
        samples = json.loads(samples_file.read_text()) if samples_file.is_file() else []
        outcomes = []
        with httpx.Client(timeout=10) as http:
            for sample in samples:
                body, headers = signed_delivery(self.secret, str(sample.get("event")), dict(sample.get("data") or {}))
                response = http.post(f"{base_url}/webhooks", content=body, headers=headers)
                outcomes.append({"event": sample.get("event"), "status": response.status_code})
        return outcomes

    def run(self, *, replay: bool, once: bool) -> dict[str, Any]:
        ok = self.revalidate()
        server = self._http_server()
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base_url = f"http://127.0.0.1:{self.port}"
        self.echo(f"Webhook endpoint: {base_url}/webhooks (secret {self.secret!r})")
        deliveries = self.replay(base_url) if replay else []
        if once:
            server.shutdown()
            server.server_close()
            ok = ok and all(d["status"] == 200 for d in deliveries)
            return {"ok": ok, "endpoint": f"{base_url}/webhooks", "deliveries": deliveries}
        seen = self.snapshot()
        self.serving.set()
        try:
            while not self.stopping.wait(self.poll_seconds):
                current = self.snapshot()
                if current != seen:
                    seen = current
                    self.echo("Change detected; re-validating.")
                    ok = self.revalidate()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
        return {"ok": ok, "endpoint": f"{base_url}/webhooks", "deliveries": deliveries}
