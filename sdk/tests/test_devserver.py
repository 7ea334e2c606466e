"""`nofx ext dev`'s server: verified deliveries reach the handler, forged ones do not, edits reload it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from nofx_sdk.devserver import DevServer, signed_delivery
from nofx_sdk.scaffold import create_extension


def _start(directory: Path) -> tuple[DevServer, threading.Thread]:
    server = DevServer(directory, port=0, secret="dev-secret", echo=lambda line: None)
    server.poll_seconds = 0.05
    thread = threading.Thread(target=server.run, kwargs={"replay": False, "once": False}, daemon=True)
    thread.start()
    assert server.serving.wait(10)
    return server, thread


def _deliver(server: DevServer, secret: str = "dev-secret") -> httpx.Response:
    body, headers = signed_delivery(secret, "installation.created", {})
    return httpx.post(f"http://127.0.0.1:{server.port}/webhooks", content=body, headers=headers, timeout=5)


def test_it_hands_verified_deliveries_to_the_handler_and_refuses_forged_ones(tmp_path):
    # given
    create_extension(tmp_path / "agent", "agent", "acme.agent")
    server, thread = _start(tmp_path / "agent")
    # when
    good = _deliver(server)
    forged = _deliver(server, secret="guess")
    server.stopping.set()
    thread.join(5)
    # then
    assert good.status_code == 200
    assert good.json()["result"] == {"received": "installation.created"}
    assert forged.status_code == 401
    assert [e["event"] for e in server.received] == ["installation.created"]


def test_an_edit_to_the_handler_takes_effect_without_a_restart(tmp_path):
    # given
    directory = tmp_path / "agent"
    create_extension(directory, "agent", "acme.agent")
    server, thread = _start(directory)
    handler = directory / "app" / "handler.py"
    # when the handler changes on disk
    time.sleep(0.05)
    handler.write_text("def handle(event: dict) -> dict:\n    return {'version': 2}\n")
    deadline = time.monotonic() + 5
    result = None
    while time.monotonic() < deadline and result != {"version": 2}:
        time.sleep(0.05)
        result = _deliver(server).json()["result"]
    server.stopping.set()
    thread.join(5)
    # then
    assert result == {"version": 2}
