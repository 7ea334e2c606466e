"""The marketplace's one door to the outside refuses private destinations unless settings allow them."""

from __future__ import annotations

import pytest

from apps.marketplace.connectors_bridge import OutboundFailed, OutboundRefused, outbound_request
from apps.marketplace.services.pipeline import handshake_findings


def test_it_refuses_loopback_when_private_addresses_are_not_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(OutboundRefused, match="private, loopback or link-local"):
        outbound_request("POST", "http://127.0.0.1:9/anything")


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "http:///nohost"])
def test_it_refuses_anything_but_http_urls(url):
    with pytest.raises(OutboundRefused):
        outbound_request("GET", url)


def test_it_reaches_a_loopback_server_when_allowed(app_server):
    response = outbound_request("POST", f"{app_server.base_url}/register", body=b'{"challenge": "x"}')

    assert response.status == 200
    assert response.json() == {"challenge": "x"}
    assert app_server.paths() == ["/register"]


def test_a_closed_port_is_a_failure_not_a_refusal(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True

    with pytest.raises(OutboundFailed):
        outbound_request("GET", "http://127.0.0.1:9/", timeout=2)


def test_the_handshake_passes_when_the_app_echoes_the_challenge(app_server):
    assert handshake_findings(f"{app_server.base_url}/register") == []


def test_the_handshake_fails_when_the_app_does_not_echo(app_server):
    app_server.echo_challenge = False

    (finding,) = handshake_findings(f"{app_server.base_url}/register")

    assert finding.rule_id == "MKT-T004"
    assert "did not echo the challenge" in finding.message
    assert not finding.inconclusive


def test_an_unreachable_app_is_inconclusive(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True

    (finding,) = handshake_findings("http://127.0.0.1:9/register")

    assert finding.inconclusive
    assert finding.severity == "warning"


def test_the_handshake_to_a_private_address_is_refused_by_default(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    (finding,) = handshake_findings("http://10.1.2.3/register")

    assert finding.rule_id == "MKT-T004"
    assert "was refused" in finding.message
