"""Every outbound call outside the connectors goes through the transport's address guard.

The security app's alerts and feeds, IdP metadata, allauth's OpenID Connect calls, peer regions and the
marketplace's app calls all refuse a private address unless `OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from allauth.core.exceptions import ImmediateHttpResponse

from apps.accounts.sso.oidc import OrganizationSocialAccountAdapter
from apps.accounts.sso.outbound import TransportAdapter, fetch_idp_metadata, guarded_requests_session
from apps.connectors.errors import AddressRefused
from apps.connectors.transport import send_plain_request
from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace.connectors_bridge import OutboundRefused as MarketplaceRefused
from apps.marketplace.connectors_bridge import outbound_request
from apps.regions.peer_transport import PeerUnreachable, post_to_peer_region
from apps.security.outbound import OutboundRefused, send_outbound_request


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self) -> None:
        _Handler.hits.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"<EntityDescriptor/>"
        if self.path == "/big":
            body = b"x" * 5000
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def private_refused(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []


@pytest.fixture
def private_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True


def test_the_transport_refuses_a_private_address_before_sending_anything(server, private_refused):
    with pytest.raises(AddressRefused):
        send_plain_request(method="GET", url=f"{server}/x")

    assert _Handler.hits == []


def test_the_transport_sends_to_an_allowed_address_and_caps_the_body(server, private_allowed):
    reply = send_plain_request(method="GET", url=f"{server}/big", max_bytes=100)

    assert (reply.status, len(reply.body), reply.truncated) == (200, 100, True)


def test_the_transport_refuses_what_is_not_http(private_allowed):
    with pytest.raises(AddressRefused):
        send_plain_request(method="GET", url="file:///etc/passwd")


def test_security_alerts_and_feeds_are_refused_on_private_addresses(server, private_refused):
    with pytest.raises(OutboundRefused):
        send_outbound_request(method="GET", url=server.replace("http://", "https://"))
    assert _Handler.hits == []


def test_security_alerts_reach_an_allowed_address_and_refuse_large_answers(server, private_allowed, monkeypatch):
    assert send_outbound_request(method="POST", url=f"{server}/alert", body=b"hi").body == b"hi"

    monkeypatch.setattr("apps.security.outbound.MAX_RESPONSE_BYTES", 100)
    with pytest.raises(OutboundRefused, match="larger than"):
        send_outbound_request(method="GET", url=f"{server}/big")


def test_idp_metadata_on_a_private_address_is_refused(server, private_refused):
    with pytest.raises(BusinessRuleViolation) as refused:
        fetch_idp_metadata(f"{server}/metadata")

    assert refused.value.code == "private_address"
    assert _Handler.hits == []


def test_idp_metadata_is_fetched_when_allowed(server, private_allowed):
    assert fetch_idp_metadata(f"{server}/metadata") == "<EntityDescriptor/>"


def test_allauths_oidc_calls_go_through_the_guard(server, private_refused):
    # given allauth's requests session as our adapter hands it out
    session = OrganizationSocialAccountAdapter().get_requests_session()
    assert isinstance(session.get_adapter(f"{server}/"), TransportAdapter)
    # when discovery points at a private address
    with pytest.raises(ImmediateHttpResponse) as refused:
        session.get(f"{server}/.well-known/openid-configuration")
    # then nothing was sent, and allauth will show the SSO error page
    assert _Handler.hits == []
    assert refused.value.response.status_code == 502


def test_a_plain_guarded_session_refuses_private_addresses_as_connection_errors(server, private_refused):
    with pytest.raises(requests.ConnectionError):
        guarded_requests_session(requests.Session()).get(f"{server}/x")
    assert _Handler.hits == []


def test_allauths_oidc_calls_work_when_allowed(server, private_allowed):
    session = guarded_requests_session(requests.Session())

    response = session.post(f"{server}/token", data={"grant_type": "authorization_code"}, timeout=(3, 5))

    assert response.status_code == 200
    assert response.text == "grant_type=authorization_code"


def test_peer_regions_on_private_addresses_are_refused(server, private_refused):
    with pytest.raises(PeerUnreachable, match="private address"):
        post_to_peer_region(url=f"{server}/regions/replication/", body=b"{}", headers={})


def test_peer_regions_are_reached_when_allowed(server, private_allowed):
    response = post_to_peer_region(url=f"{server}/regions/replication/", body=b'{"a": 1}', headers={})

    assert (response.status, response.body) == (200, b'{"a": 1}')


def test_marketplace_app_calls_are_refused_on_private_addresses(server, private_refused):
    with pytest.raises(MarketplaceRefused):
        outbound_request("POST", f"{server}/register", body=b"{}")
    assert _Handler.hits == []
