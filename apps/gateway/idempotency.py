"""`Idempotency-Key` on POST: a retried request gets the first answer instead of doing the work twice.

The record is inserted before the work starts, in its own committed transaction; the unique constraint on
(client, key) makes the insert the lock. So of two concurrent requests with one key, exactly one does the
work: the other sees the record and answers 409 (still in progress) or, once it is finished, the stored
response. A key reused with a different request answers 422. Answers are kept for 24 hours; 5xx answers
are not kept (the key is released so the client can retry).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.gateway.models import ApiClient, IdempotencyRecord, IdempotencyState

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Response headers worth replaying; the rest are recomputed for each answer.
REPLAYED_HEADERS = ("Content-Type", "Location")


@dataclass(frozen=True)
class Outcome:
    """`new` (do the work), `replay`, `mismatch` (same key, other request) or `in_progress`."""

    kind: str
    record: IdempotencyRecord | None = None


def is_valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def request_fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def begin(*, client: ApiClient, key: str, request: HttpRequest) -> Outcome:
    """Claim the key for this request, or say why not."""
    fingerprint = request_fingerprint(request)
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    client=client,
                    key=key,
                    request_hash=fingerprint,
                    method=request.method or "POST",
                    path=request.path[:500],
                    created_at=now,
                    expires_at=now + settings.GATEWAY_IDEMPOTENCY_TTL,
                )
            return Outcome("new", record)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if existing is None:
            continue  # released in between: claim it again
        abandoned = existing.state == IdempotencyState.IN_PROGRESS and existing.created_at <= now - timedelta(
            seconds=settings.GATEWAY_IDEMPOTENCY_LEASE_SECONDS
        )
        if existing.expires_at <= now or abandoned:
            # Only the row we looked at, so two claimants cannot both delete a fresh claim.
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != fingerprint:
            return Outcome("mismatch", existing)
        if existing.state == IdempotencyState.IN_PROGRESS:
            return Outcome("in_progress", existing)
        return Outcome("replay", existing)
    return Outcome("in_progress")


def complete(*, record: IdempotencyRecord, response: HttpResponse) -> None:
    """Keep the answer for replays, or release the key when there is nothing worth replaying."""
    if response.status_code >= 500 or response.streaming:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    record.state = IdempotencyState.COMPLETED
    record.response_status = response.status_code
    record.response_headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    record.response_body = response.content
    record.save(update_fields=["state", "response_status", "response_headers", "response_body"])


def release(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.response_status or 200)
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
