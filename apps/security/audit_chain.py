"""Hashing and verification of audit chains. Pure functions over rows; no writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from apps.security.models import GENESIS_HASH, AuditEvent

HASHED_FIELDS = (
    "chain",
    "seq",
    "organization_id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "data",
    "prev_hash",
)


def normalise_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """What the database will hand back for `data`: plain JSON types only."""
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))


def timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_payload(values: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8) of the hashed fields of an event."""
    doc = {name: values[name] for name in HASHED_FIELDS}
    doc["occurred_at"] = timestamp(doc["occurred_at"])
    doc["organization_id"] = str(doc["organization_id"]) if doc["organization_id"] else None
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_payload(values)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"chain {self.chain} is broken at seq {self.seq}: {self.reason}"


@dataclass(frozen=True)
class VerificationResult:
    chains: int
    events: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        return not self.breaks


def _rows(chain: str, using: str = "default") -> Iterator[dict[str, Any]]:
    fields = (*HASHED_FIELDS, "hash")
    events = AuditEvent.objects.using(using).filter(chain=chain).order_by("seq")
    yield from events.values(*fields).iterator(chunk_size=2000)


def verify_chain(
    chain: str, rows: Iterable[dict[str, Any]] | None = None, *, using: str = "default"
) -> tuple[int, str, ChainBreak | None]:
    """Walk one chain from seq 1; return how many events were read, the last hash and the first break."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    for row in rows if rows is not None else _rows(chain, using):
        count += 1
        if row["seq"] != expected_seq:
            missing = f"event seq {expected_seq} is missing (next is {row['seq']})"
            return count, prev_hash, ChainBreak(chain, expected_seq, missing)
        if row["prev_hash"] != prev_hash:
            return count, prev_hash, ChainBreak(chain, row["seq"], "prev_hash does not match the previous event's hash")
        if event_hash(row) != row["hash"]:
            return count, prev_hash, ChainBreak(chain, row["seq"], "the event's content does not match its hash")
        prev_hash = row["hash"]
        expected_seq += 1
    return count, prev_hash, None


def verify_all_chains(chains: Iterable[str] | None = None, *, using: str = "default") -> VerificationResult:
    """Verify the chains (all by default) in the database `using` (another alias: e.g. a restored backup)."""
    from apps.security.models import AuditChainHead

    names = (
        list(chains)
        if chains is not None
        else sorted(
            set(AuditEvent.objects.using(using).values_list("chain", flat=True).distinct())
            | set(AuditChainHead.objects.using(using).values_list("chain", flat=True))
        )
    )
    breaks: list[ChainBreak] = []
    total = 0
    for name in names:
        count, last_hash, broken = verify_chain(name, using=using)
        total += count
        head = AuditChainHead.objects.using(using).filter(chain=name).first()
        if broken is None and head is not None and (head.seq != count or head.hash != last_hash):
            # The newest events were deleted, added behind the service's back, or rewritten as a whole.
            if head.seq > count:
                broken = ChainBreak(name, count + 1, f"events after seq {count} are missing (head is at {head.seq})")
            elif head.seq < count:
                broken = ChainBreak(
                    name, head.seq + 1, f"events after the head (seq {head.seq}) were not appended by us"
                )
            else:
                broken = ChainBreak(name, count, "the last event differs from the one the chain head recorded")
        if broken is not None:
            breaks.append(broken)
    return VerificationResult(chains=len(names), events=total, breaks=breaks)
