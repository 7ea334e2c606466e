"""Replication of the global directory between regions through a transactional outbox.

Writing: a service that changes a replicated row calls `enqueue_change()` inside its own transaction, so the
outbox message and one delivery per peer region commit (or roll back) together with the change.

Delivering: `deliver_pending()` posts due deliveries to each peer in batches, signed with HMAC-SHA256 over
`<timestamp>.<body>`; a delivery is marked done only after the peer answered 2xx, so every message arrives at
least once. A crashed sender re-sends after its lease expires.

Applying: the peer checks the signature and the timestamp window, then applies each message as a whole-state
upsert that keeps the higher version. Applying a batch once or three times, or out of order, ends in the same
rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.regions.models import (
    DeliveryStatus,
    DirectoryEntry,
    DirectoryKind,
    OutboxDelivery,
    OutboxMessage,
    Region,
    RegionStatus,
)
from apps.regions.peer_transport import PeerUnreachable, post_to_peer_region
from apps.regions.selectors import local_region_code

logger = logging.getLogger(__name__)

REGION_KIND = "region"
SIGNATURE_HEADER = "X-NOFX-Signature"
ORIGIN_HEADER = "X-NOFX-Origin-Region"
BATCH_SIZE = 200
# A claimed delivery that is neither done nor failed after this long is sent again (its sender died).
LEASE = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 300

REGION_FIELDS = ("name", "public_url", "replication_url", "certifications", "status", "status_reason")
_KINDS = {REGION_KIND, *DirectoryKind.values}


class SignatureError(Exception):
    """The batch is not signed by a region holding the shared secret, or the signature is too old."""


def next_version(current: int) -> int:
    """A version above `current` that also orders by wall-clock time across regions (last writer wins)."""
    return max(current + 1, time.time_ns() // 1000)


# -- Signing ---------------------------------------------------------------------------------------------------


def _secrets() -> list[str]:
    return [s for s in settings.REGION_REPLICATION_SECRETS if s]


def sign(body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value for a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    secrets = _secrets()
    if not secrets:
        raise SignatureError("NOFX_REGION_REPLICATION_SECRETS is not set: this region cannot sign.")
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secrets[0].encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify_signature(body: bytes, header: str, *, now: float | None = None) -> None:
    """Raise SignatureError unless `header` signs `body` with a known secret inside the timestamp window."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        ts = int(parts["t"])
        supplied = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError("The signature header is malformed.") from None
    window = settings.REGION_REPLICATION_MAX_SKEW.total_seconds()
    if abs((time.time() if now is None else now) - ts) > window:
        raise SignatureError(f"The signature timestamp is outside the {int(window)} s window.")
    message = f"{ts}.".encode() + body
    for secret in _secrets():
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, supplied):
            return
    raise SignatureError("The signature does not match.")


# -- Writing ------------------------------------------------------------------------------------------------------


def region_payload(region: Region) -> dict[str, Any]:
    return {"code": region.code, **{name: getattr(region, name) for name in REGION_FIELDS}}


def entry_payload(entry: DirectoryEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "key": entry.key,
        "slug": entry.slug,
        "region_code": entry.region_code,
        "data": entry.data,
        "is_deleted": entry.is_deleted,
    }


def enqueue_change(*, kind: str, key: str, version: int, payload: dict[str, Any]) -> OutboxMessage:
    """Queue one replicated state for every peer region. Call inside the transaction that made the change."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue_change() must run inside the transaction that makes the change.")
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    message = OutboxMessage.objects.create(
        event_id=uuid.uuid4(),
        kind=kind,
        key=key,
        version=version,
        payload=payload,
        origin_region_code=local_region_code(),
    )
    now = timezone.now()
    # Messages carry whole states, so an older undelivered version of the same entry is worth nothing once this
    # one exists: dropping it keeps the backlog to one message per entry and peer, however long a peer is away.
    OutboxDelivery.objects.filter(
        status=DeliveryStatus.PENDING, message__kind=kind, message__key=key, message__version__lt=version
    ).delete()
    peers = Region.objects.exclude(code=local_region_code()).only("id")
    OutboxDelivery.objects.bulk_create(
        [OutboxDelivery(message=message, region=peer, next_attempt_at=now) for peer in peers]
    )
    transaction.on_commit(_schedule_delivery)
    return message


def _schedule_delivery() -> None:
    from apps.regions.tasks import deliver_outbox_task

    try:
        deliver_outbox_task.delay()
    except Exception:
        # The periodic run delivers it anyway; a broker hiccup must not fail the write that already committed.
        logger.warning("Could not queue an outbox delivery; the periodic run will send it.", exc_info=True)


def enqueue_snapshot(*, region: Region) -> int:
    """Queue the whole current directory for one peer (a new region, or one restored from an old backup)."""
    count = 0
    now = timezone.now()
    with transaction.atomic():
        items: list[tuple[str, str, int, dict[str, Any]]] = [
            (REGION_KIND, r.code, r.directory_version, region_payload(r)) for r in Region.objects.all()
        ]
        items += [(e.kind, e.key, e.version, entry_payload(e)) for e in DirectoryEntry.objects.all()]
        for kind, key, version, payload in items:
            message = OutboxMessage.objects.create(
                event_id=uuid.uuid4(),
                kind=kind,
                key=key,
                version=version,
                payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
                origin_region_code=local_region_code(),
            )
            OutboxDelivery.objects.create(message=message, region=region, next_attempt_at=now)
            count += 1
        transaction.on_commit(_schedule_delivery)
    return count


# -- Delivering ---------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def _claim(region: Region) -> list[OutboxDelivery]:
    """Take up to a batch of due deliveries for one peer, leasing them so a parallel sender skips them."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            OutboxDelivery.objects.select_for_update(skip_locked=True)
            .filter(region=region, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .select_related("message")
            .order_by("id")[:BATCH_SIZE]
        )
        if due:
            OutboxDelivery.objects.filter(pk__in=[d.pk for d in due]).update(next_attempt_at=now + LEASE)
    return due


def batch_body(messages: list[OutboxMessage]) -> bytes:
    doc = {
        "origin_region": local_region_code(),
        "messages": [
            {
                "event_id": str(m.event_id),
                "kind": m.kind,
                "key": m.key,
                "version": m.version,
                "origin_region": m.origin_region_code,
                "payload": m.payload,
            }
            for m in messages
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def deliver_to_region(region: Region) -> DeliveryReport:
    """Send everything due to one peer, batch by batch, until nothing is due or the peer fails."""
    report = DeliveryReport()
    while True:
        due = _claim(region)
        if not due:
            return report
        body = batch_body([d.message for d in due])
        ids = [d.pk for d in due]
        try:
            post_to_peer_region(
                url=region.peer_endpoint,
                body=body,
                headers={SIGNATURE_HEADER: sign(body), ORIGIN_HEADER: local_region_code()},
            )
        except (PeerUnreachable, SignatureError) as exc:
            _record_failure(ids, str(exc))
            report.failed += len(ids)
            report.errors[region.code] = str(exc)
            logger.warning("Directory delivery to %s failed: %s", region.code, exc)
            return report
        OutboxDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), last_error=""
        )
        report.delivered += len(ids)


def _record_failure(ids: list[int], error: str) -> None:
    now = timezone.now()
    for delivery in OutboxDelivery.objects.filter(pk__in=ids):
        delivery.attempts += 1
        delay = min(2**delivery.attempts, MAX_BACKOFF_SECONDS)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.last_error = error[:500]
        delivery.save(update_fields=["attempts", "next_attempt_at", "last_error"])


def deliver_pending() -> DeliveryReport:
    """Deliver every due message to every peer region."""
    total = DeliveryReport()
    peers = Region.objects.exclude(code=local_region_code()).order_by("code")
    for region in peers:
        report = deliver_to_region(region)
        total.delivered += report.delivered
        total.failed += report.failed
        total.errors.update(report.errors)
    return total


def prune_delivered(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget messages every peer has received, once they are older than `older_than`."""
    cutoff = timezone.now() - older_than
    undelivered = OutboxDelivery.objects.filter(status=DeliveryStatus.PENDING).values("message_id")
    deleted, _ = OutboxMessage.objects.filter(created_at__lt=cutoff).exclude(pk__in=undelivered).delete()
    return deleted


# -- Applying -----------------------------------------------------------------------------------------------------


class MalformedBatch(ValueError):
    """The body is not a batch of directory messages."""


@dataclass
class ApplyReport:
    applied: int = 0
    ignored: int = 0


def parse_batch(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBatch("The body is not JSON.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise MalformedBatch("The body needs `origin_region` and a list of `messages`.")
    origin = doc.get("origin_region")
    if not isinstance(origin, str) or not origin:
        raise MalformedBatch("The body needs `origin_region`.")
    for index, message in enumerate(doc["messages"]):
        if not isinstance(message, dict):
            raise MalformedBatch(f"messages[{index}] is not an object.")
        if message.get("kind") not in _KINDS:
            raise MalformedBatch(f"messages[{index}].kind is not a replicated kind.")
        if not isinstance(message.get("key"), str) or not message["key"]:
            raise MalformedBatch(f"messages[{index}].key is missing.")
        if not isinstance(message.get("version"), int) or isinstance(message.get("version"), bool):
            raise MalformedBatch(f"messages[{index}].version is not an integer.")
        if not isinstance(message.get("payload"), dict):
            raise MalformedBatch(f"messages[{index}].payload is not an object.")
    return origin, doc["messages"]


def apply_batch(*, origin_region: str, messages: list[dict[str, Any]]) -> ApplyReport:
    """Apply a verified batch from a peer in one transaction; stale or repeated versions change nothing."""
    from apps.security.services import record_audit_event

    report = ApplyReport()
    with transaction.atomic():
        for index, message in enumerate(messages):
            try:
                changed = _apply_region(message) if message["kind"] == REGION_KIND else _apply_entry(message)
            except ValidationError as exc:
                # Raised inside the transaction: nothing of the batch is applied.
                raise MalformedBatch(f"messages[{index}] is invalid: {'; '.join(exc.messages)}") from None
            if changed:
                report.applied += 1
            else:
                report.ignored += 1
        if report.applied:
            record_audit_event(
                actor=None,
                action="regions.directory_replicated",
                target=("regions.region", origin_region),
                data={"origin_region": origin_region, "applied": report.applied, "ignored": report.ignored},
            )
    return report


def _newer(incoming_version: int, incoming_origin: str, version: int, origin: str) -> bool:
    # Ties (two regions writing in the same microsecond) go to the lexically larger region code, the same
    # choice in every region, so all regions converge.
    return (incoming_version, incoming_origin) > (version, origin)


def _apply_entry(message: dict[str, Any]) -> bool:
    payload = message["payload"]
    origin = str(message.get("origin_region") or "")
    entry = DirectoryEntry.objects.select_for_update().filter(kind=message["kind"], key=message["key"]).first()
    if entry is not None and not _newer(message["version"], origin, entry.version, entry.origin_region_code):
        return False
    if entry is None:
        entry = DirectoryEntry(kind=message["kind"], key=message["key"])
    entry.slug = str(payload.get("slug") or "")[:100]
    entry.region_code = str(payload.get("region_code") or "")[:32]
    entry.data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    entry.is_deleted = bool(payload.get("is_deleted"))
    entry.version = message["version"]
    entry.origin_region_code = origin[:32]
    entry.save()
    return True


def _apply_region(message: dict[str, Any]) -> bool:
    payload = message["payload"]
    code = message["key"]
    region = Region.objects.select_for_update().filter(code=code).first()
    if region is not None and not _newer(message["version"], "", region.directory_version, ""):
        return False
    if region is None:
        region = Region(code=code)
    for name in REGION_FIELDS:
        if name in payload:
            setattr(region, name, payload[name])
    if region.status not in RegionStatus.values:
        region.status = RegionStatus.STANDBY
    if not isinstance(region.certifications, list):
        region.certifications = []
    region.directory_version = message["version"]
    region.full_clean()
    region.save()
    return True
