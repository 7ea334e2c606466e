"""The directory reaches every region at least once, signed, and applying it again changes nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.regions import replication
from apps.regions.models import DeliveryStatus, DirectoryEntry, OutboxDelivery, OutboxMessage, Region, RegionStatus
from apps.regions.services import publish_directory_entry, register_region, set_region_status
from apps.security.models import AuditEvent
from tests.factories.regions import DirectoryEntryFactory, RegionFactory

pytestmark = pytest.mark.django_db

SECRET = "test-replication-secret"


@pytest.fixture(autouse=True)
def shared_secret(settings):
    settings.REGION_REPLICATION_SECRETS = [SECRET]


def _signed_post(client, body: bytes, **headers: Any):
    return client.post(
        "/regions/replication/",
        body,
        content_type="application/json",
        headers={replication.SIGNATURE_HEADER: replication.sign(body), **headers},
    )


def _batch(*messages: dict[str, Any], origin: str = "eu-west") -> bytes:
    return json.dumps({"origin_region": origin, "messages": list(messages)}).encode()


def _org_message(key: str, *, slug: str, region: str, version: int, origin: str = "eu-west") -> dict[str, Any]:
    return {
        "event_id": f"00000000-0000-0000-0000-{version:012d}",
        "kind": "organization",
        "key": key,
        "version": version,
        "origin_region": origin,
        "payload": {"kind": "organization", "key": key, "slug": slug, "region_code": region, "data": {}},
    }


def _state() -> list[tuple[Any, ...]]:
    entries = DirectoryEntry.objects.order_by("kind", "key").values_list(
        "kind", "key", "slug", "region_code", "data", "version", "origin_region_code", "is_deleted"
    )
    regions = Region.objects.order_by("code").values_list(
        "code", "name", "public_url", "status", "certifications", "directory_version"
    )
    return [*entries, *regions]


# -- Signatures ----------------------------------------------------------------------------------------------


def test_a_signature_made_with_the_shared_secret_verifies():
    body = b'{"hello": "peer"}'

    replication.verify_signature(body, replication.sign(body))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, header: (body + b" ", header),
        lambda body, header: (body, header.replace("v1=", "v1=0")),
        lambda body, header: (body, ""),
        lambda body, header: (body, "t=abc,v1=00"),
        lambda body, header: (body, header.split(",")[1]),
    ],
    ids=["body changed", "digest changed", "no header", "bad timestamp", "no timestamp"],
)
def test_a_tampered_or_missing_signature_is_refused(tamper):
    body, header = tamper(b'{"hello": "peer"}', replication.sign(b'{"hello": "peer"}'))

    with pytest.raises(replication.SignatureError):
        replication.verify_signature(body, header)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_signature_outside_the_timestamp_window_is_refused(skew):
    body = b"{}"
    header = replication.sign(body, timestamp=int(time.time()) + skew)

    with pytest.raises(replication.SignatureError, match="window"):
        replication.verify_signature(body, header)


def test_a_signature_by_another_installation_is_refused(settings):
    body = b"{}"
    header = replication.sign(body)
    settings.REGION_REPLICATION_SECRETS = ["another-installations-secret"]

    with pytest.raises(replication.SignatureError, match="does not match"):
        replication.verify_signature(body, header)


def test_during_a_secret_rotation_both_secrets_verify(settings):
    body = b"{}"
    old_header = replication.sign(body)
    settings.REGION_REPLICATION_SECRETS = ["the-new-secret", SECRET]

    replication.verify_signature(body, old_header)
    replication.verify_signature(body, replication.sign(body))


def test_a_region_without_a_secret_cannot_sign(settings):
    settings.REGION_REPLICATION_SECRETS = []

    with pytest.raises(replication.SignatureError, match="not set"):
        replication.sign(b"{}")


# -- The inbox -----------------------------------------------------------------------------------------------


def test_the_inbox_applies_a_signed_batch(client):
    body = _batch(_org_message("org-1", slug="globex", region="eu-west", version=10))

    response = _signed_post(client, body)

    assert response.status_code == 200
    assert response.json() == {"applied": 1, "ignored": 0}
    entry = DirectoryEntry.objects.get(key="org-1")
    assert (entry.slug, entry.region_code, entry.version, entry.origin_region_code) == (
        "globex",
        "eu-west",
        10,
        "eu-west",
    )
    assert AuditEvent.objects.filter(action="regions.directory_replicated").count() == 1


@pytest.mark.parametrize("times", [1, 3])
def test_replaying_a_batch_once_or_three_times_gives_the_same_state(client, times):
    # given a batch with a region, an organization that moved twice, a publisher and a deletion
    RegionFactory(code="us-east")
    batch = _batch(
        {
            "event_id": "e1",
            "kind": "region",
            "key": "eu-west",
            "version": 5,
            "payload": {
                "code": "eu-west",
                "name": "EU West",
                "public_url": "https://eu-west.nofx.example",
                "replication_url": "",
                "certifications": ["GDPR"],
                "status": "active",
                "status_reason": "",
            },
        },
        _org_message("org-1", slug="globex", region="eu-west", version=10),
        _org_message("org-1", slug="globex", region="eu-central", version=11),
        _org_message("org-2", slug="initech", region="eu-west", version=12),
        {**_org_message("org-2", slug="initech", region="eu-west", version=13), "payload": {"is_deleted": True}},
        {
            "event_id": "e6",
            "kind": "publisher",
            "key": "pub-1",
            "version": 7,
            "origin_region": "eu-west",
            "payload": {"slug": "acme-labs", "region_code": "eu-west", "data": {"name": "Acme Labs"}},
        },
    )
    # when
    responses = [_signed_post(client, batch) for _ in range(times)]
    # then
    assert all(r.status_code == 200 for r in responses)
    assert responses[-1].json()["applied"] == (6 if times == 1 else 0)
    assert _state() == [
        ("organization", "org-1", "globex", "eu-central", {}, 11, "eu-west", False),
        ("organization", "org-2", "", "", {}, 13, "eu-west", True),
        ("publisher", "pub-1", "acme-labs", "eu-west", {"name": "Acme Labs"}, 7, "eu-west", False),
        ("eu-west", "EU West", "https://eu-west.nofx.example", "active", ["GDPR"], 5),
        ("us-east", "Us East", "https://us-east.nofx.example", "active", ["SOC 2"], 0),
    ]
    # Only the first delivery changed anything, so only it is in the audit log.
    assert AuditEvent.objects.filter(action="regions.directory_replicated").count() == 1


def test_an_older_version_arriving_late_changes_nothing(client):
    newer = _org_message("org-1", slug="globex", region="eu-central", version=20)
    older = _org_message("org-1", slug="globex", region="eu-west", version=19)

    _signed_post(client, _batch(newer))
    response = _signed_post(client, _batch(older))

    assert response.json() == {"applied": 0, "ignored": 1}
    assert DirectoryEntry.objects.get(key="org-1").region_code == "eu-central"


def test_two_regions_writing_the_same_version_converge_on_the_same_winner(client):
    from_eu = _org_message("org-1", slug="globex", region="eu-west", version=30, origin="eu-west")
    from_us = _org_message("org-1", slug="globex", region="us-east", version=30, origin="us-east")

    _signed_post(client, _batch(from_eu))
    _signed_post(client, _batch(from_us))
    first_order = DirectoryEntry.objects.get(key="org-1").region_code
    DirectoryEntry.objects.all().delete()
    _signed_post(client, _batch(from_us))
    _signed_post(client, _batch(from_eu))

    assert first_order == DirectoryEntry.objects.get(key="org-1").region_code == "us-east"


def test_the_inbox_refuses_an_unsigned_batch_without_applying_it(client):
    body = _batch(_org_message("org-1", slug="globex", region="eu-west", version=10))

    response = client.post(
        "/regions/replication/",
        body,
        content_type="application/json",
        headers={replication.SIGNATURE_HEADER: "t=1,v1=0"},
    )

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not DirectoryEntry.objects.exists()


def _one(message: str) -> bytes:
    return b'{"origin_region": "eu-west", "messages": [' + message.encode() + b"]}"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"messages": []}',
        b'{"origin_region": "eu-west", "messages": {}}',
        _one("1"),
        _one('{"kind": "gossip", "key": "1", "version": 1, "payload": {}}'),
        _one('{"kind": "organization", "key": "", "version": 1, "payload": {}}'),
        _one('{"kind": "organization", "key": "1", "version": "1", "payload": {}}'),
        _one('{"kind": "organization", "key": "1", "version": true, "payload": {}}'),
        _one('{"kind": "organization", "key": "1", "version": 1, "payload": []}'),
        _one(
            '{"kind": "region", "key": "eu-west", "version": 1, "payload": {"name": "EU", "public_url": "not a url"}}'
        ),
    ],
)
def test_the_inbox_refuses_a_malformed_batch_without_applying_any_of_it(client, body):
    response = _signed_post(client, body)

    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-batch")
    assert not DirectoryEntry.objects.exists()
    assert not Region.objects.exists()


def test_the_inbox_takes_only_post(client):
    assert client.get("/regions/replication/").status_code == 405


# -- Delivery --------------------------------------------------------------------------------------------------


class PeerRegion:
    """A peer region's inbox on loopback: records what it receives and answers with `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[Any, bytes]] = []
        self.status = 200
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                peer.received.append((self.headers, body))
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer(settings) -> Iterator[PeerRegion]:
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    server = PeerRegion()
    yield server
    server.close()


@pytest.fixture
def eu_west(peer):
    RegionFactory(code="us-east")
    return RegionFactory(code="eu-west", public_url=peer.url)


def test_pending_changes_are_posted_signed_to_each_peer_and_marked_delivered(peer, eu_west):
    # given
    entry = publish_directory_entry(kind="publisher", key="pub-1", slug="acme-labs", region_code="us-east")
    # when
    report = replication.deliver_pending()
    # then
    assert (report.delivered, report.failed) == (1, 0)
    [(headers, body)] = peer.received
    replication.verify_signature(body, headers[replication.SIGNATURE_HEADER])
    assert headers[replication.ORIGIN_HEADER] == "us-east"
    batch = json.loads(body)
    assert batch["origin_region"] == "us-east"
    assert [(m["kind"], m["key"], m["version"]) for m in batch["messages"]] == [("publisher", "pub-1", entry.version)]
    delivery = OutboxDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.delivered_at is not None
    assert replication.deliver_pending().delivered == 0


def test_a_peer_that_fails_is_retried_later_with_back_off(peer, eu_west):
    # given
    publish_directory_entry(kind="publisher", key="pub-1", slug="acme-labs", region_code="us-east")
    peer.status = 503
    # when
    first = replication.deliver_pending()
    # then
    assert (first.delivered, first.failed) == (0, 1)
    assert "503" in first.errors["eu-west"]
    delivery = OutboxDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at > timezone.now()
    assert "503" in delivery.last_error
    # and nothing is sent again before the back-off has passed
    assert replication.deliver_pending().delivered == 0
    assert len(peer.received) == 1
    # when the peer is back and the back-off has passed
    peer.status = 200
    OutboxDelivery.objects.update(next_attempt_at=timezone.now())
    assert replication.deliver_pending().delivered == 1
    assert OutboxDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_an_unreachable_peer_is_recorded_and_retried(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    RegionFactory(code="eu-west", public_url="http://127.0.0.1:9")  # the discard port: nothing listens
    publish_directory_entry(kind="publisher", key="pub-1", region_code="us-east")

    report = replication.deliver_pending()

    assert report.failed == 1
    assert "unreachable" in OutboxDelivery.objects.get().last_error


def test_peers_on_private_addresses_are_refused_unless_allowed(peer, eu_west, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    publish_directory_entry(kind="publisher", key="pub-1", region_code="us-east")

    report = replication.deliver_pending()

    assert report.failed == 1
    assert "private address" in report.errors["eu-west"]
    assert peer.received == []


def test_a_leased_delivery_is_not_sent_twice_by_parallel_senders(peer, eu_west):
    publish_directory_entry(kind="publisher", key="pub-1", region_code="us-east")
    claimed = replication._claim(eu_west)

    assert len(claimed) == 1
    assert replication._claim(eu_west) == []
    # A sender that died leaves the lease behind; once it expires, the delivery goes out again.
    OutboxDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert replication.deliver_pending().delivered == 1


def test_a_large_backlog_goes_out_in_batches(peer, eu_west, monkeypatch):
    monkeypatch.setattr(replication, "BATCH_SIZE", 2)
    for n in range(5):
        publish_directory_entry(kind="publisher", key=f"pub-{n}", region_code="us-east")

    assert replication.deliver_pending().delivered == 5
    assert [len(json.loads(body)["messages"]) for _, body in peer.received] == [2, 2, 1]


def test_region_changes_travel_too(peer, eu_west):
    set_region_status(region=Region.objects.get(code="us-east"), status=RegionStatus.DEGRADED, reason="no standby")

    replication.deliver_pending()

    [(_, body)] = peer.received
    [message] = json.loads(body)["messages"]
    assert (message["kind"], message["key"], message["payload"]["status"]) == ("region", "us-east", "degraded")


def test_delivered_messages_are_pruned_after_a_week_but_undelivered_ones_stay(peer, eu_west):
    publish_directory_entry(kind="publisher", key="delivered", region_code="us-east")
    replication.deliver_pending()
    publish_directory_entry(kind="publisher", key="stuck", region_code="us-east")
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(days=8))

    assert replication.prune_delivered() == 2  # the message and its delivery
    assert list(OutboxMessage.objects.values_list("key", flat=True)) == ["stuck"]


@override_settings(REGION_CODE="eu-west")
def test_what_one_region_sends_another_applies_to_the_same_state(client, settings):
    # given a region's outbox (the sender's view is built here, then the batch is handed to the inbox)
    RegionFactory(code="us-east")
    entry = publish_directory_entry(kind="organization", key="org-9", slug="globex", region_code="eu-west")
    messages = [d.message for d in OutboxDelivery.objects.select_related("message")]
    body = replication.batch_body(messages)
    DirectoryEntry.objects.all().delete()
    # when
    response = _signed_post(client, body)
    # then
    assert response.json()["applied"] == 1
    applied = DirectoryEntry.objects.get(key="org-9")
    assert (applied.region_code, applied.version, applied.origin_region_code) == ("eu-west", entry.version, "eu-west")


@pytest.mark.django_db(transaction=True)
def test_an_outbox_message_is_only_written_inside_the_transaction_of_its_change():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        replication.enqueue_change(kind="publisher", key="1", version=1, payload={})


def test_a_snapshot_queues_every_region_and_entry_for_one_peer(eu_west):
    DirectoryEntryFactory(slug="globex")
    register_region(code="ca-central", name="Canada", public_url="https://ca.nofx.example")
    OutboxDelivery.objects.all().delete()

    queued = replication.enqueue_snapshot(region=eu_west)

    assert queued == Region.objects.count() + DirectoryEntry.objects.count()
    assert OutboxDelivery.objects.filter(region=eu_west).count() == queued


def test_a_newer_state_replaces_the_undelivered_older_one(eu_west, peer):
    # given a peer that is away while an entry changes three times
    for region in ("us-east", "eu-west", "eu-central"):
        publish_directory_entry(kind="organization", key="org-1", slug="globex", region_code=region)
    # then only the newest state is still owed to it
    pending = OutboxDelivery.objects.filter(status=DeliveryStatus.PENDING).select_related("message")
    assert [d.message.payload["region_code"] for d in pending] == ["eu-central"]
    # and that is what it receives
    replication.deliver_pending()
    [(_, body)] = peer.received
    assert [m["payload"]["region_code"] for m in json.loads(body)["messages"]] == ["eu-central"]
