"""What operators and their tooling rely on: health probes, request ids, logs and metrics."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from apps.core import health
from apps.core.logging import RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


# -- Worker start ---------------------------------------------------------------------------------------------


def test_a_new_worker_has_every_view_loaded_before_it_serves_a_request():
    # given a fresh interpreter, as a newly started or recycled gunicorn worker is
    probe = "import sys, nofx.wsgi; print(sorted({'nofx.urls', 'djangosaml2.views'} - set(sys.modules)))"
    # when it imports the WSGI application, as the worker does before it accepts a connection
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(settings.BASE_DIR),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "nofx.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then the URLconf and the views it imports (SAML's take most of a second) are already loaded
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


# -- /healthz and /readyz ------------------------------------------------------------------------------------


def test_healthz_answers_200_json(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_healthz_is_never_cached(client):
    response = client.get("/healthz")

    assert "no-cache" in response["Cache-Control"]


def test_readyz_answers_200_when_the_database_cache_and_broker_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert {check["status"] for check in body["checks"].values()} == {"ok"}


@pytest.mark.parametrize("failing", ["database", "cache", "broker"])
def test_readyz_answers_503_naming_the_check_that_failed(client, monkeypatch, failing):
    # given
    monkeypatch.setitem(health.CHECKS, failing, lambda: "ConnectionRefusedError: nobody listens")
    # when
    response = client.get("/readyz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"][failing]["status"] == "error"
    assert body["checks"][failing]["error"] == "ConnectionRefusedError: nobody listens"
    assert [name for name, check in body["checks"].items() if check["status"] == "error"] == [failing]


# -- X-Request-ID --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("supplied", ["abc-123", "0f5c2a9e-4c1b-4d7e-9d55-0b8f2c1a7e11", "lb:7.1_edge"])
def test_a_safe_request_id_is_echoed(client, supplied):
    response = client.get("/healthz", headers={"X-Request-ID": supplied})

    assert response["X-Request-ID"] == supplied


def test_a_request_without_an_id_gets_a_fresh_one(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert first != second
    assert uuid.UUID(first)


@pytest.mark.parametrize(
    "malicious",
    [
        "abc\r\nSet-Cookie: session=stolen",
        "abc\nfake log line",
        "x" * 129,
        "<script>alert(1)</script>",
        "id with spaces",
    ],
)
def test_an_unsafe_request_id_is_replaced(client, malicious):
    # given a value the middleware must not echo into a header or a log line (set on META directly, as a
    # proxy could deliver it, because the test client refuses newlines in headers)
    # when
    response = client.get("/healthz", HTTP_X_REQUEST_ID=malicious)
    # then
    echoed = response["X-Request-ID"]
    assert echoed != malicious
    assert uuid.UUID(echoed)


def test_log_records_written_while_serving_a_request_carry_its_id(client, monkeypatch, caplog):
    # given a check that logs while /readyz runs it, and the filter that LOGGING puts on the console handler
    assert "request_id" in settings.LOGGING["handlers"]["console"]["filters"]
    caplog.handler.addFilter(RequestIdFilter())

    def logging_check() -> None:
        logging.getLogger("tests.readiness").warning("checking the cache")

    monkeypatch.setitem(health.CHECKS, "cache", logging_check)
    # when
    with caplog.at_level(logging.WARNING, logger="tests.readiness"):
        client.get("/readyz", headers={"X-Request-ID": "trace-42"})
    # then
    records = [r for r in caplog.records if r.name == "tests.readiness"]
    assert [r.request_id for r in records] == ["trace-42"]


def test_log_records_outside_a_request_carry_a_dash(caplog):
    caplog.handler.addFilter(RequestIdFilter())

    with caplog.at_level(logging.WARNING, logger="tests.background"):
        logging.getLogger("tests.background").warning("no request here")

    assert caplog.records[-1].request_id == "-"


# -- The JSON log format -------------------------------------------------------------------------------------


def _json_formatter() -> logging.Formatter:
    config = dict(settings.LOGGING["formatters"]["json"])
    factory = import_string(config.pop("()"))
    return factory(**config)


def test_the_json_formatter_writes_one_object_per_line_with_the_fields_we_search_by():
    # given
    formatter = _json_formatter()
    record = logging.LogRecord("apps.sync.engine", logging.ERROR, __file__, 1, "sync failed:\n%s", ("boom",), None)
    token = request_id_var.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    # when
    line = formatter.format(record)
    # then
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "apps.sync.engine"
    assert entry["message"] == "sync failed:\nboom"
    assert entry["request_id"] == "req-7"
    assert entry["time"]


# -- /metrics ------------------------------------------------------------------------------------------------


def test_metrics_serves_prometheus_text_without_a_token_configured(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# TYPE django_http_requests" in response.content


def test_metrics_with_a_token_configured_refuses_a_request_without_it(client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"

    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert b"django_http_requests" not in response.content


def test_metrics_with_a_token_configured_refuses_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"

    response = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})

    assert response.status_code == 401


def test_metrics_with_a_token_configured_serves_the_bearer_of_it(client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"

    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"django_http_requests" in response.content
