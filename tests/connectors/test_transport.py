"""The one outbound door: address guard, retries, budgets, origins and metrics, over real sockets."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from apps.connectors.authentication import BearerToken
from apps.connectors.coordination import shared_redis
from apps.connectors.errors import (
    AddressRefused,
    InvalidRequest,
    RateLimited,
    RecordNotFound,
    UpstreamUnavailable,
)
from apps.connectors.policies import RateLimitPolicy, RetryPolicy
from apps.connectors.rate_budget import LeasedRateBudget, LocalRateBudget, RateBudget, RedisRateBudget
from apps.connectors.sandboxes.server import Sandbox, SandboxRequest, SandboxResponse, respond
from apps.connectors.transport import OutboundClient, check_url_allowed, resolve_allowed
from apps.core.after_response import deferred_until_sent
from tests.connectors.conftest import FAST_RETRY, make_connection


class EchoSandbox(Sandbox):
    """A vendor-neutral API for transport tests."""

    name = "echo"
    title = "Echo"
    default_port = 0

    def reset_data(self) -> None:
        self.created = 0

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/ok", lambda r: respond({"ok": True})),
            ("GET", "/missing", lambda r: respond({"message": "gone"}, 404)),
            ("GET", "/redirect", self.redirect),
            ("POST", "/things", self.create),
            ("GET", "/session", lambda r: respond({"ok": True}, 200, {"Set-Cookie": "JSESSIONID=first-user; Path=/"})),
        ]

    def redirect(self, request: SandboxRequest) -> SandboxResponse:
        return respond(None, 302, {"Location": request.arg("to") or "/ok"})

    def create(self, request: SandboxRequest) -> SandboxResponse:
        self.created += 1
        return respond({"id": self.created}, 201)


@pytest.fixture(scope="module")
def echo_server():
    sandbox = EchoSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def echo(echo_server):
    echo_server.limit_rate(None)
    echo_server.reset()
    return echo_server


def client_for(sandbox: Sandbox, **kwargs: Any) -> OutboundClient:
    connection = make_connection(
        "echo", sandbox.url, retry=kwargs.pop("retry", FAST_RETRY), rate_limit=kwargs.pop("rate_limit", None)
    )
    return OutboundClient(connection, **kwargs)


# -- Address guard ------------------------------------------------------------------------------------------


def test_a_call_to_loopback_is_refused_when_private_addresses_are_not_allowed(echo, settings):
    # given
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    client = client_for(echo)
    # when / then
    with pytest.raises(AddressRefused):
        client.request("GET", "/ok")
    assert echo.log == []


def test_a_call_to_loopback_goes_through_when_the_setting_allows_it(echo, loopback_allowed):
    client = client_for(echo)

    response = client.request("GET", "/ok")

    assert response.json() == {"ok": True}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://10.0.0.8/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost/",
    ],
)
def test_private_loopback_and_link_local_base_urls_are_refused(url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(AddressRefused):
        check_url_allowed(url)


def test_a_host_is_refused_when_any_of_its_addresses_is_private(settings, monkeypatch):
    # given a name that resolves to one public and one private address
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    # when / then (the fake resolver is gone before any fixture reconnects to a local service)
    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolver)
        with pytest.raises(AddressRefused, match=r"10\.1\.2\.3"):
            resolve_allowed("split-horizon.example", 443)


def test_an_allow_listed_private_network_is_reachable_but_nothing_else_private(echo, settings):
    # given loopback 127.0.0.1 allowed on its own, and a redirect to another loopback address
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    client = client_for(echo)
    # when / then
    assert client.request("GET", "/ok").status_code == 200
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.2"):
        client.request("GET", "/redirect", params={"to": f"http://127.0.0.2:{echo.port}/ok"})


def test_plain_http_is_refused_for_a_public_host(settings, monkeypatch):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    with monkeypatch.context() as patch:
        patch.setattr(
            socket,
            "getaddrinfo",
            lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))],
        )
        with pytest.raises(AddressRefused, match="https"):
            check_url_allowed("http://jira.example.com/")
        check_url_allowed("https://jira.example.com/")


def test_credentials_are_never_sent_to_another_origin(echo, loopback_allowed):
    client = client_for(echo, authenticator=BearerToken("s3cret"))

    with pytest.raises(AddressRefused, match="credentials"):
        client.request("GET", f"http://localhost:{echo.port}/ok")
    assert echo.log == []


# -- Retries ------------------------------------------------------------------------------------------------


def test_a_permanent_error_is_not_retried(echo, loopback_allowed):
    # given
    echo.fail_next(1, status=400, retry_after=None)
    client = client_for(echo)
    # when / then
    with pytest.raises(InvalidRequest):
        client.request("GET", "/ok")
    assert len(echo.log) == 1


def test_a_missing_record_is_a_not_found_error(echo, loopback_allowed):
    with pytest.raises(RecordNotFound):
        client_for(echo).request("GET", "/missing")


def test_a_server_error_on_a_read_is_retried_with_backoff(echo, loopback_allowed):
    # given
    echo.fail_next(2, status=503, retry_after=None)
    client = client_for(echo)
    # when
    response = client.request("GET", "/ok")
    # then
    assert response.status_code == 200
    assert len(echo.log) == 3
    assert client.stats.retries == 2


def test_a_server_error_on_a_create_is_not_retried_without_an_idempotency_key(echo, loopback_allowed):
    # given the vendor may have created the thing before failing
    echo.fail_next(1, status=502, retry_after=None)
    client = client_for(echo)
    # when / then
    with pytest.raises(UpstreamUnavailable):
        client.request("POST", "/things", json={})
    assert len(echo.log) == 1


def test_a_create_with_an_idempotency_key_is_retried_and_carries_the_key(echo, loopback_allowed):
    echo.fail_next(1, status=502, retry_after=None)
    client = client_for(echo)

    response = client.request("POST", "/things", json={}, idempotency_key="key-123")

    assert response.status_code == 201
    assert [r.header("idempotency-key") for r in echo.log] == ["key-123", "key-123"]


def test_a_429_on_a_create_is_retried_because_the_vendor_did_not_process_it(echo, loopback_allowed):
    echo.fail_next(1, retry_after=0.05)
    client = client_for(echo)

    response = client.request("POST", "/things", json={})

    assert response.json() == {"id": 1}


def test_a_retry_after_longer_than_the_policy_allows_fails_fast_for_a_later_retry(echo, loopback_allowed):
    # given
    echo.fail_next(1, retry_after=600)
    client = client_for(echo)
    started = time.monotonic()
    # when / then
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/ok")
    assert caught.value.retry_after == 600
    assert time.monotonic() - started < 1


def test_retries_stop_after_the_policy_s_attempts(echo, loopback_allowed):
    echo.fail_next(5, status=500, retry_after=None)
    client = client_for(echo, retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002))

    with pytest.raises(UpstreamUnavailable):
        client.request("GET", "/ok")
    assert len(echo.log) == 3


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)

    delays = [[policy.backoff(attempt) for _ in range(50)] for attempt in range(1, 6)]

    assert all(0.5 <= d <= 1.0 for d in delays[0])
    assert all(2.0 <= d <= 4.0 for d in delays[2])
    assert all(4.0 <= d <= 8.0 for d in delays[4])
    assert len({round(d, 6) for d in delays[2]}) > 1
    assert 3.0 <= policy.delay(1, 3.0) <= 3.3


# -- Metrics ------------------------------------------------------------------------------------------------


def test_every_attempt_is_counted_with_its_status_and_latency(echo, loopback_allowed):
    # given
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    labels = {"provider": "echo", "method": "GET"}
    before_429 = sample("nofx_connector_requests_total", {**labels, "status": "429"})
    before_200 = sample("nofx_connector_requests_total", {**labels, "status": "200"})
    before_latency = sample("nofx_connector_request_duration_seconds_count", {"provider": "echo"})
    before_retries = sample("nofx_connector_retries_total", {"provider": "echo", "reason": "rate_limited"})
    echo.fail_next(1, retry_after=0.01)
    # when
    client_for(echo).request("GET", "/ok")
    # then
    assert sample("nofx_connector_requests_total", {**labels, "status": "429"}) == before_429 + 1
    assert sample("nofx_connector_requests_total", {**labels, "status": "200"}) == before_200 + 1
    assert sample("nofx_connector_request_duration_seconds_count", {"provider": "echo"}) == before_latency + 2
    assert sample("nofx_connector_retries_total", {"provider": "echo", "reason": "rate_limited"}) == before_retries + 1


def test_a_cookie_one_connection_gets_is_never_sent_on_another_s_calls(echo, loopback_allowed):
    # given two connections to the same vendor host, sharing the process's pooled client
    first, second = client_for(echo), client_for(echo)
    # when the vendor sets a session cookie on the first connection's call
    first.request("GET", "/session")
    second.request("GET", "/ok")
    first.request("GET", "/ok")
    # then no later call carries it, whichever connection makes it
    later = echo.calls("GET", "/ok")
    assert [r.header("cookie") for r in later] == ["", ""]


# -- The shared budget, end to end --------------------------------------------------------------------------


def _hammer(
    sandbox: Sandbox,
    *,
    threads: int,
    calls_each: int,
    policy: RateLimitPolicy | None = None,
    budgets: list[RateBudget] | None = None,
) -> list[OutboundClient]:
    """`threads` workers of one connection, each with its own client (as separate processes would)."""
    connection = make_connection("echo", sandbox.url, rate_limit=policy)
    clients = [OutboundClient(connection, budget=budgets[i] if budgets else None) for i in range(threads)]
    errors: list[BaseException] = []

    def work(client: OutboundClient) -> None:
        try:
            for _ in range(calls_each):
                client.request("GET", "/ok")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(c,)) for c in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    return clients


def test_workers_sharing_a_connection_stay_inside_the_vendor_s_limit(echo, loopback_allowed):
    # given a vendor allowing 8 calls per second, and 4 workers wanting 24 calls
    echo.limit_rate(8, window=1.0)
    started = time.monotonic()
    # when
    clients = _hammer(echo, threads=4, calls_each=6)
    # then no call met a 429, and the calls were spread over the windows they needed
    assert sum(c.stats.rate_limited_responses for c in clients) == 0
    assert echo.limiter is not None
    assert echo.limiter.rejected == 0
    assert len(echo.log) == 24
    assert time.monotonic() - started >= 1.0


@pytest.mark.redis
def test_workers_taking_slots_in_leases_stay_inside_the_vendor_s_limit(echo, loopback_allowed, settings):
    # given 4 worker processes that each take their connection's slots 16 at a time
    settings.CONNECTOR_RATE_LEASE_SIZE = 16
    settings.CONNECTOR_RATE_LEASE_FLUSH_SECONDS = 0.5
    budgets: list[RateBudget] = [LeasedRateBudget(RedisRateBudget(shared_redis())) for _ in range(4)]
    echo.limit_rate(8, window=1.0)
    try:
        # when they want 24 calls of a vendor allowing 8 per second
        clients = _hammer(echo, threads=4, calls_each=6, budgets=budgets)
    finally:
        for budget in budgets:
            assert isinstance(budget, LeasedRateBudget)
            budget.reporter.close()
    # then no call met a 429
    assert sum(c.stats.rate_limited_responses for c in clients) == 0
    assert echo.limiter is not None
    assert echo.limiter.rejected == 0
    assert len(echo.log) == 24


def test_our_own_pacing_spaces_calls_before_the_vendor_says_anything(echo, loopback_allowed):
    # given 20 calls per second, no burst
    started = time.monotonic()
    # when
    _hammer(echo, threads=2, calls_each=5, policy=RateLimitPolicy(requests_per_second=20, burst=1))
    # then 10 calls took at least 9 intervals of 50 ms
    assert time.monotonic() - started >= 0.45


# -- The budget slot of a gateway call ----------------------------------------------------------------------


def _in_flight(client: OutboundClient, budget: LocalRateBudget) -> int:
    return int(budget.snapshot(client.connection.id)["inflight"])


def test_outside_a_gateway_call_the_slot_goes_back_with_the_answer(echo, loopback_allowed):
    # given
    budget = LocalRateBudget()
    client = client_for(echo, budget=budget)
    # when
    client.request("GET", "/ok")
    # then
    assert _in_flight(client, budget) == 0


def test_in_a_gateway_call_the_slot_goes_back_once_the_response_is_sent(echo, loopback_allowed):
    # given
    budget = LocalRateBudget()
    client = client_for(echo, budget=budget)
    # when a call succeeds inside a request that defers its bookkeeping
    with deferred_until_sent() as deferred:
        client.request("GET", "/ok")
        held = _in_flight(client, budget)
    deferred.run()  # the response is sent
    # then the call counted as in flight until then, and not after
    assert held == 1
    assert _in_flight(client, budget) == 0


def test_an_action_making_many_calls_holds_at_most_one_answered_slot(echo, loopback_allowed):
    # given
    budget = LocalRateBudget()
    client = client_for(echo, budget=budget)
    # when one gateway call makes five vendor calls
    with deferred_until_sent() as deferred:
        for _ in range(5):
            client.request("GET", "/ok")
        held = _in_flight(client, budget)
    deferred.run()
    # then each call settled the previous one's slot before taking its own
    assert held == 1
    assert _in_flight(client, budget) == 0


def test_a_failed_call_gives_its_slot_back_at_once_even_in_a_gateway_call(echo, loopback_allowed):
    # given
    budget = LocalRateBudget()
    client = client_for(echo, budget=budget)
    # when
    with deferred_until_sent():
        with pytest.raises(RecordNotFound):
            client.request("GET", "/missing")
        held = _in_flight(client, budget)
    # then
    assert held == 0
