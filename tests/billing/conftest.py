"""Stripe for the billing tests, never the real one: localstripe on loopback for what it implements
(customers, payment intents, refunds, declined cards, signed webhooks), and a recording HTTP client that
answers from hand-written Stripe API shapes for what it lacks (Prices, Checkout, Connect, Meters)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe
from django.conf import settings

from apps.billing.fake_stripe import FakeStripeServer
from apps.billing.models import BillingPlan
from apps.billing.services import sync_billing_plans
from apps.billing.stripe_api import GuardedStripeHTTPClient
from apps.marketplace.models import Extension
from tests.factories.billing import PublisherAccountFactory
from tests.factories.marketplace import PublisherFactory, manifest, publish_extension

LOOPBACK = ("127.0.0.1", "localhost")

PAID_PLANS = [
    {"id": "free", "name": "Free", "model": "free"},
    {"id": "pro", "name": "Pro", "model": "one_time", "amount": 4900, "currency": "usd"},
    {
        "id": "team",
        "name": "Team",
        "model": "subscription",
        "amount": 1500,
        "currency": "usd",
        "interval": "month",
        "trialDays": 14,
        "perSeat": True,
    },
    {
        "id": "metered",
        "name": "Pay as you go",
        "model": "usage",
        "currency": "usd",
        "meter": "api_calls",
        "tiers": [{"upTo": 1000, "unitAmount": 2}, {"upTo": None, "unitAmount": 1}],
    },
]


@pytest.fixture(autouse=True)
def _stripe_stays_local(settings: Any) -> Iterator[None]:
    """Every billing test: billing's seams are plugged in (as with keys configured), and Stripe's host is
    loopback before and after, whatever the test did."""
    settings.MARKETPLACE_CHECKOUT = "apps.billing.checkout.begin_paid_install"
    settings.MARKETPLACE_ENTITLEMENT_CHECK = "apps.billing.entitlements.licensed_plans"
    yield
    host = urlsplit(stripe.api_base).hostname
    assert host in LOOPBACK, f"A billing test pointed stripe-python at {stripe.api_base}"


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]


@dataclass
class StripeRecorder:
    """Stands in for Stripe at the HTTP-client level: answers each (method, path pattern) with a response
    written from the Stripe API reference and keeps every request with its form parameters."""

    routes: list[tuple[str, re.Pattern[str], Callable[[dict[str, str]], dict[str, Any]]]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    def answer(
        self, method: str, pattern: str, response: dict[str, Any] | Callable[[dict[str, str]], dict[str, Any]]
    ) -> None:
        reply = response if callable(response) else (lambda _params, r=response: r)
        self.routes.insert(0, (method, re.compile(f"^{pattern}$"), reply))

    def made(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]


class RecordingHTTPClient(stripe.HTTPClient):
    name = "recording"

    def __init__(self, recorder: StripeRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> tuple[str, int, dict[str, str]]:  # type: ignore[override]
        parts = urlsplit(url)
        assert parts.hostname in LOOPBACK, f"Stripe request left the machine: {url}"
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        params = dict(parse_qsl(body, keep_blank_values=True))
        self.recorder.requests.append(RecordedRequest(method.upper(), parts.path, params))
        for route_method, pattern, reply in self.recorder.routes:
            if route_method == method.upper() and pattern.match(parts.path):
                return json.dumps(reply(params)), 200, {"request-id": "req_recorded"}
        error = {"error": {"type": "invalid_request_error", "message": f"No recorded answer for {method} {parts.path}"}}
        return json.dumps(error), 404, {}

    def close(self) -> None:
        return None


def _product(params: dict[str, str]) -> dict[str, Any]:
    return {"id": "prod_Recorded1", "object": "product", "active": True, "name": params.get("name", ""), "metadata": {}}


def _price(params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": f"price_{params.get('metadata[plan]', 'x')}",
        "object": "price",
        "active": True,
        "currency": params.get("currency"),
        "product": params.get("product"),
        "unit_amount": int(params["unit_amount"]) if params.get("unit_amount") else None,
        "type": "recurring" if "recurring[interval]" in params else "one_time",
    }


def _session(params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "cs_test_Recorded1",
        "object": "checkout.session",
        "url": "https://checkout.stripe.com/c/pay/cs_test_Recorded1",
        "mode": params.get("mode"),
        "status": "open",
        "payment_status": "unpaid",
        "client_reference_id": params.get("client_reference_id"),
        "metadata": {"purchase_id": params.get("metadata[purchase_id]")},
    }


@pytest.fixture
def stripe_recorder(settings: Any, monkeypatch: pytest.MonkeyPatch) -> StripeRecorder:
    """The recording client as stripe.default_http_client, with answers for Products, Prices, Meters,
    Customers, Checkout Sessions, Connect accounts and links, Transfers and meter events."""
    settings.STRIPE_API_HOST = "http://127.0.0.1:9"
    recorder = StripeRecorder()
    recorder.answer("POST", "/v1/products", _product)
    recorder.answer("POST", r"/v1/products/[\w]+", _product)
    recorder.answer("POST", "/v1/prices", _price)
    recorder.answer("POST", r"/v1/prices/[\w]+", lambda p: {"id": "price_old", "object": "price", "active": False})
    recorder.answer(
        "POST",
        "/v1/billing/meters",
        lambda p: {"id": "mtr_Recorded1", "object": "billing.meter", "event_name": p["event_name"], "status": "active"},
    )
    recorder.answer("POST", "/v1/customers", {"id": "cus_Recorded1", "object": "customer"})
    recorder.answer("POST", "/v1/checkout/sessions", _session)
    recorder.answer(
        "POST",
        "/v1/accounts",
        {"id": "acct_Recorded1", "object": "account", "type": "express", "charges_enabled": False},
    )
    recorder.answer(
        "POST",
        "/v1/account_links",
        {"object": "account_link", "url": "https://connect.stripe.com/setup/e/acct_Recorded1/abc", "expires_at": 1},
    )
    recorder.answer(
        "GET",
        r"/v1/accounts/[\w]+",
        {
            "id": "acct_Recorded1",
            "object": "account",
            "details_submitted": True,
            "charges_enabled": True,
            "payouts_enabled": True,
        },
    )
    recorder.answer(
        "POST",
        "/v1/transfers",
        lambda p: {
            "id": "tr_Recorded1",
            "object": "transfer",
            "amount": int(p["amount"]),
            "destination": p["destination"],
        },
    )
    recorder.answer(
        "POST",
        "/v1/billing/meter_events",
        lambda p: {"object": "billing.meter_event", "event_name": p["event_name"], "identifier": p["identifier"]},
    )
    monkeypatch.setattr(stripe, "default_http_client", RecordingHTTPClient(recorder))
    return recorder


# -- localstripe ------------------------------------------------------------------------------------------


class WebhookCollector:
    """A loopback HTTP endpoint that keeps what localstripe POSTs, so a test can hand each signed delivery
    to our webhook view exactly as it arrived."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.deliveries.append((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event_type: str, timeout: float = 8.0) -> tuple[bytes, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body, signature in self.deliveries:
                if json.loads(body).get("type") == event_type:
                    return body, signature
            time.sleep(0.05)
        raise AssertionError(
            f"localstripe sent no {event_type} (got {[json.loads(b)['type'] for b, _ in self.deliveries]})"
        )

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="session")
def _fake_stripe_server() -> Iterator[FakeStripeServer]:
    server = FakeStripeServer().start()
    yield server
    server.stop()


@pytest.fixture
def localstripe(
    _fake_stripe_server: FakeStripeServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeStripeServer]:
    """stripe-python pointed at localstripe through our guarded client (loopback explicitly allowed)."""
    _fake_stripe_server.reset()
    settings.STRIPE_API_HOST = _fake_stripe_server.url
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client = GuardedStripeHTTPClient()
    monkeypatch.setattr(stripe, "default_http_client", client)
    yield _fake_stripe_server
    client.close()


@pytest.fixture
def webhook_collector(localstripe: FakeStripeServer) -> Iterator[WebhookCollector]:
    collector = WebhookCollector()
    localstripe.register_webhook(url=collector.url, secret=settings.DJSTRIPE_WEBHOOK_SECRET, name="tests")
    yield collector
    collector.stop()


# -- Catalog --------------------------------------------------------------------------------------------


def sign_event(event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, signed as Stripe does (t=..., v1=HMAC-SHA256)."""
    body = json.dumps(event).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    key = (secret or settings.DJSTRIPE_WEBHOOK_SECRET).encode()
    digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={digest}"


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str = "evt_1", created: int | None = None
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "api_version": stripe.api_version,
        "data": {"object": obj},
    }


@pytest.fixture
def paid_extension(db: None) -> Extension:
    """A published connector with free, one-time, subscription and usage plans, its plans mirrored (without
    Stripe ids), and a publisher whose Connect account can take charges."""
    publisher = PublisherFactory()
    extension = publish_extension(
        publisher=publisher, slug=f"{publisher.slug}.tickets", manifest_data=None, pricing={"plans": PAID_PLANS}
    )
    version = extension.latest_version
    assert version is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("apps.billing.services.stripe_configured", lambda: False)
        sync_billing_plans(version=version)
    BillingPlan.objects.filter(extension=extension).exclude(model="free").update(
        stripe_product_id="prod_1", stripe_price_id="price_1"
    )
    for plan in BillingPlan.objects.filter(extension=extension, model__in=("subscription", "usage")):
        plan.stripe_price_id = f"price_{plan.plan_id}"
        plan.save()
    PublisherAccountFactory(
        publisher=publisher, stripe_account_id="acct_Publisher1", charges_enabled=True, payouts_enabled=True
    )
    return extension


def install_payload(extension: Extension) -> dict[str, Any]:
    from apps.marketplace.services.installations import permissions_of

    version = extension.latest_version
    assert version is not None
    return {"config": {"region": "eu"}, "granted_permissions": permissions_of(version)}


__all__ = ["install_payload", "manifest", "sign_event", "stripe_event"]
