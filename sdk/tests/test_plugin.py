"""The pytest plugin's fixtures, used the way an extension author would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from nofx_sdk.client import ApiError, InstallTokenClient
from nofx_sdk.webhooks import WebhookVerificationError, verified_event

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def app_endpoint(nofx_installation):
    """An app that verifies each delivery with its installation's webhook secret, as a real one must."""
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                received.append(verified_event(nofx_installation.webhook_secret, body, dict(self.headers.items())))
                self.send_response(200)
            except WebhookVerificationError:
                self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks", received
    server.shutdown()
    server.server_close()


def test_the_webhook_sender_signs_deliveries_the_app_can_verify(app_endpoint, nofx_webhook_sender):
    # given
    url, received = app_endpoint
    # when
    response = nofx_webhook_sender(url, "workflow.run_completed", {"records": 3})
    # then
    assert response.status_code == 200
    assert received[0]["event"] == "workflow.run_completed"
    assert received[0]["data"] == {"records": 3}


def test_an_app_reports_usage_with_its_install_token_and_a_wrong_token_is_refused(nofx_platform, nofx_installation):
    # given
    good = InstallTokenClient(nofx_platform.url, nofx_installation.token)
    bad = InstallTokenClient(nofx_platform.url, "nxi_wrong")
    # when
    good.report_usage(event_id="run-1", quantity=5)
    with pytest.raises(ApiError) as refused:
        bad.report_usage(event_id="run-2")
    # then
    assert nofx_installation.usage == [{"id": "run-1", "quantity": 5}]
    assert refused.value.status == 401


def test_the_connector_runner_reads_every_resource_of_the_example_connector(nofx_connector_runner):
    # when
    results = nofx_connector_runner(EXAMPLES / "connector")
    # then
    assert [(r.name, r.ok) for r in results] == [("resource ticket", True)]


def test_the_connector_runner_says_which_request_nobody_recorded(nofx_connector_runner, tmp_path):
    # given
    recordings = tmp_path / "recordings.json"
    recordings.write_text(json.dumps({}))
    # when
    results = nofx_connector_runner(EXAMPLES / "connector", recordings)
    # then
    assert not results[0].ok
    assert "nothing recorded for GET /tickets" in results[0].messages[0]
