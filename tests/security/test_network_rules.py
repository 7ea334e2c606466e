"""IP rules and threat intelligence on every request; request size limits."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.security import services
from apps.security.detectors import Detection
from apps.security.models import IPRuleAction, ResponseAction, ResponseKind, Severity, ThreatFeed, ThreatFeedFormat
from apps.security.network_rules import PrefixSet
from apps.security.threat_intel import FeedFormatError, parse_plain, parse_stix
from tests.factories.accounts import MembershipFactory

pytestmark = pytest.mark.django_db


def test_a_prefix_set_answers_the_most_specific_network():
    prefixes = PrefixSet([("10.0.0.0/8", "wide"), ("10.1.2.0/24", "narrow"), ("2001:db8::/32", "v6")])

    assert prefixes.match(ipaddress.ip_address("10.1.2.3")) == "narrow"
    assert prefixes.match(ipaddress.ip_address("10.9.9.9")) == "wide"
    assert prefixes.match(ipaddress.ip_address("2001:db8::1")) == "v6"
    assert prefixes.match(ipaddress.ip_address("11.0.0.1")) is None
    assert len(prefixes) == 3


def test_a_globally_denied_address_gets_403_problem_on_the_api_and_a_page_elsewhere(client):
    services.create_ip_rule(organization=None, cidr="203.0.113.0/24", action=IPRuleAction.DENY, actor=None)

    api = client.get("/api/v1/me/", REMOTE_ADDR="203.0.113.50")
    page = client.get("/", REMOTE_ADDR="203.0.113.50")
    elsewhere = client.get("/", REMOTE_ADDR="198.51.100.1")

    assert api.status_code == 403
    assert api["Content-Type"] == "application/problem+json"
    assert api.json()["type"].endswith("/ip-denied")
    assert page.status_code == 403
    assert b"not allowed here" in page.content
    assert elsewhere.status_code == 200


def test_a_blocked_address_answers_403_until_an_operator_reverses_the_block(client):
    # given a detection that blocks its source address
    event = services.raise_security_event(
        detection=Detection(
            event_type="credential_stuffing",
            severity=Severity.HIGH,
            title="t",
            dedup_key="t",
            detection_method="test",
            source_ip="198.51.100.7",
            playbook=(ResponseKind.BLOCK_IP,),
        )
    )
    assert client.get("/", REMOTE_ADDR="198.51.100.7").status_code == 403
    # when
    services.reverse_response(action=ResponseAction.objects.get(event=event), actor=None)
    # then
    assert client.get("/", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_a_rule_lapses_by_itself_when_it_expires(client):
    services.create_ip_rule(
        organization=None,
        cidr="203.0.113.9",
        action=IPRuleAction.DENY,
        actor=None,
        expires_at=timezone.now() + dt.timedelta(milliseconds=400),
    )
    assert client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 403

    time.sleep(0.5)

    assert client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_an_organization_allow_list_admits_its_members_only_from_listed_networks(client):
    membership = MembershipFactory(role=Role.OWNER)
    services.create_ip_rule(
        organization=membership.organization, cidr="192.0.2.0/24", action=IPRuleAction.ALLOW, actor=None
    )
    client.force_login(membership.user)

    inside = client.get("/dashboard/", REMOTE_ADDR="192.0.2.10")
    outside = client.get("/dashboard/", REMOTE_ADDR="198.51.100.10")
    anonymous_elsewhere = client.__class__().get("/", REMOTE_ADDR="198.51.100.10")

    assert inside.status_code == 200
    assert outside.status_code == 403
    assert anonymous_elsewhere.status_code == 200


def test_an_organization_deny_rule_applies_to_its_members_not_to_others(client, django_user_model):
    member = MembershipFactory(role=Role.VIEWER)
    stranger = MembershipFactory(role=Role.VIEWER)
    services.create_ip_rule(organization=member.organization, cidr="192.0.2.0/24", action=IPRuleAction.DENY, actor=None)

    client.force_login(member.user)
    assert client.get("/dashboard/", REMOTE_ADDR="192.0.2.10").status_code == 403
    client.force_login(stranger.user)
    assert client.get("/dashboard/", REMOTE_ADDR="192.0.2.10").status_code == 200


def test_a_global_allow_overrides_threat_intelligence(client):
    feed = services.register_threat_feed(name="bad", source="inline", format=ThreatFeedFormat.PLAIN)
    services.import_threat_feed(feed=feed, content=b"198.51.100.0/24\n")
    assert client.get("/", REMOTE_ADDR="198.51.100.3").status_code == 403

    services.create_ip_rule(organization=None, cidr="198.51.100.3", action=IPRuleAction.ALLOW, actor=None)

    assert client.get("/", REMOTE_ADDR="198.51.100.3").status_code == 200
    assert client.get("/", REMOTE_ADDR="198.51.100.4").status_code == 403


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(client, settings):
    services.create_ip_rule(organization=None, cidr="203.0.113.5", action=IPRuleAction.DENY, actor=None)
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    via_proxy = client.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    forged = client.get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="1.1.1.1")
    spoofed_left = client.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5, 192.0.2.1")

    assert via_proxy.status_code == 403
    assert forged.status_code == 200
    assert spoofed_left.status_code == 200


def test_an_invalid_network_is_refused():
    from apps.core.exceptions import BusinessRuleViolation

    with pytest.raises(BusinessRuleViolation) as excinfo:
        services.create_ip_rule(organization=None, cidr="10.0.0.1/33", action=IPRuleAction.DENY, actor=None)

    assert excinfo.value.field == "cidr"


# -- Request size limits -----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_before_any_view(client, settings):
    settings.SECURITY_MAX_REQUEST_BYTES = 1000

    response = client.post("/api/v1/ip-rules/", data="x" * 1001, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["type"].endswith("/request-too-large")


def test_a_body_within_the_limit_reaches_the_view(client, settings):
    settings.SECURITY_MAX_REQUEST_BYTES = 1000

    response = client.post("/api/v1/ip-rules/", data="{}", content_type="application/json")

    assert response.status_code == 401


# -- Threat feeds -------------------------------------------------------------------------------------------


def test_a_plain_feed_skips_comments_and_counts_garbage():
    parsed = parse_plain(b"# list\n198.51.100.1\n203.0.113.0/24 # a network\n\nnot-an-ip\n2001:db8::/48\n")

    assert parsed.networks == {"198.51.100.1/32": "", "203.0.113.0/24": "", "2001:db8::/48": ""}
    assert parsed.skipped == 1


def test_a_stix_bundle_yields_live_indicators_and_observables_only():
    now = timezone.now()
    bundle = {
        "type": "bundle",
        "objects": [
            {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '198.51.100.1']"},
            {"type": "indicator", "id": "indicator--2", "pattern": "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"},
            {"type": "indicator", "id": "indicator--3", "pattern": "[ipv4-addr:value = '192.0.2.1']", "revoked": True},
            {
                "type": "indicator",
                "id": "indicator--4",
                "pattern": "[ipv4-addr:value = '192.0.2.2']",
                "valid_until": (now - dt.timedelta(days=1)).isoformat(),
            },
            {"type": "ipv6-addr", "id": "ipv6-addr--5", "value": "2001:db8::1"},
            {"type": "malware", "id": "malware--6"},
            {"type": "indicator", "id": "indicator--7", "pattern": "[domain-name:value = 'evil.example']"},
        ],
    }

    parsed = parse_stix(json.dumps(bundle).encode(), now=now)

    assert set(parsed.networks) == {"198.51.100.1/32", "203.0.113.0/24", "2001:db8::1/128"}
    assert parsed.skipped == 3


def test_a_stix_feed_that_is_not_a_bundle_is_refused():
    with pytest.raises(FeedFormatError):
        parse_stix(b"[1, 2]", now=timezone.now())


def test_a_feed_is_imported_from_a_file_and_a_failed_reread_keeps_the_old_list(tmp_path, client):
    source = tmp_path / "feed.txt"
    source.write_text("198.51.100.0/24\n")
    feed = services.register_threat_feed(name="file", source=str(source), format=ThreatFeedFormat.PLAIN)

    services.import_threat_feed(feed=feed)
    source.unlink()
    feed = services.import_threat_feed(feed=feed)

    assert feed.indicator_count == 1
    assert "No such file" in feed.last_error
    assert client.get("/", REMOTE_ADDR="198.51.100.77").status_code == 403


class _FeedServer(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"203.0.113.0/24\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_url():
    server = HTTPServer(("127.0.0.1", 0), _FeedServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.txt"
    server.shutdown()


def test_a_feed_is_fetched_from_a_url_on_schedule(feed_url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    services.register_threat_feed(name="remote", source=feed_url, format=ThreatFeedFormat.PLAIN)

    counts = services.refresh_threat_feeds()

    assert counts == {"remote": 1}
    assert services.refresh_threat_feeds() == {}  # not due again yet


def test_a_feed_url_on_a_private_address_is_refused_outside_sandboxes(feed_url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    feed = services.register_threat_feed(name="remote", source=feed_url.replace("http:", "https:"), format="plain")

    feed = services.import_threat_feed(feed=feed)

    assert feed.indicator_count == 0
    assert "private" in feed.last_error
    assert ThreatFeed.objects.get().last_fetched_at is not None
