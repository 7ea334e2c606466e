"""Opaque `read_changes` cursors, and the watermark walk most providers share.

Why a watermark instead of the vendor's page number: offset pages shift when a record read earlier in a
pass changes (it moves to the end of an `updated asc` listing), so the record just after the page boundary
would be skipped for good. Each call therefore asks again for "changed at or after the watermark, oldest
first" and drops what it already returned (records older than the watermark, or at it and already seen).
Anything that changes during the walk only moves *later*, so nothing is skipped; the vendor's own
pagination is still followed inside a call when a page holds nothing new.

A bulk edit can give more records one timestamp than a cursor remembers (MAX_SEEN) or than one call
pages through (MAX_PAGES_PER_CALL). Restarting at the watermark would then re-read forgotten records
forever and never advance. So while the watermark stays put and the listing goes on, the cursor also
keeps the vendor's page token (`extra["resume"]`) of the last page it read, and the next call starts
there: that page is read again, so a record that leaves the group between calls (shifting the later
ones one place earlier) costs nothing, and the remembered marks drop the repeats. The token is kept at
the listing's end too (a later change is appended after it), and dropped as soon as the watermark
moves, because the vendor's pages are then of another listing.

Vendors whose continuation token is a server-side snapshot (Salesforce query locators, Graph delta
links) keep the token in the cursor instead (`token`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from apps.connectors.errors import InvalidCursor
from apps.connectors.providers.base import ChangePage, Record
from apps.connectors.timestamps import parse_timestamp

CURSOR_VERSION = 1
# A cursor never remembers more ids than this; past it, the watermark moves on (re-reads are allowed).
MAX_SEEN = 500


@dataclass(frozen=True)
class Cursor:
    watermark: datetime | None = None
    seen: tuple[str, ...] = ()
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        payload = {
            "v": CURSOR_VERSION,
            "w": self.watermark.isoformat() if self.watermark else None,
            "s": list(self.seen),
            "t": self.token,
            "x": self.extra,
        }
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Cursor:
        if not value:
            return cls()
        try:
            padded = value + "=" * (-len(value) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("The cursor is not one this connector produced.") from exc
        if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
            raise InvalidCursor("The cursor is from another version; start a full read.")
        watermark = parse_timestamp(payload.get("w"))
        seen = payload.get("s") or []
        extra = payload.get("x") or {}
        if not isinstance(seen, list) or not isinstance(extra, dict):
            raise InvalidCursor("The cursor is malformed.")
        return cls(watermark=watermark, seen=tuple(str(s) for s in seen), token=payload.get("t"), extra=extra)


def record_mark(record: Record) -> str:
    """`id:digest` - the digest catches a second change within the vendor's timestamp precision."""
    digest = hashlib.sha1(json.dumps(record.data, sort_keys=True, default=str).encode()).hexdigest()[:10]  # noqa: S324
    return f"{record.id}:{digest}"


def is_new(record: Record, cursor: Cursor) -> bool:
    """Whether the record is past what the cursor already returned."""
    if cursor.watermark is None or record.updated_at is None:
        return True
    if record.updated_at > cursor.watermark:
        return True
    return record.updated_at == cursor.watermark and record_mark(record) not in cursor.seen


def advance(cursor: Cursor, records: Iterable[Record]) -> Cursor:
    """The cursor after returning `records`."""
    watermark, seen = cursor.watermark, list(cursor.seen)
    for record in records:
        if record.updated_at is None:
            continue
        mark = record_mark(record)
        if watermark is None or record.updated_at > watermark:
            watermark, seen = record.updated_at, [mark]
        elif record.updated_at == watermark and mark not in seen:
            seen.append(mark)
    return replace(cursor, watermark=watermark, seen=tuple(seen[-MAX_SEEN:]), token=None)


def take_new(cursor: Cursor, records: Iterable[Record]) -> list[Record]:
    fresh: list[Record] = []
    ids: set[str] = set()
    for record in records:
        if is_new(record, cursor) and record.id not in ids:
            fresh.append(record)
            ids.add(record.id)
    return fresh


# A call follows the vendor's pagination at most this far through records it already returned.
MAX_PAGES_PER_CALL = 50
# The `extra` key of a watermark walk's cursor that holds the vendor page token to continue a group at.
RESUME = "resume"


def watermark_walk(
    since_cursor: str | None,
    fetch: Callable[[Cursor, str | None], tuple[list[Record], str | None]],
) -> ChangePage:
    """One `read_changes` step for vendors that list "changed since T, oldest first" with pages.

    `fetch(cursor, token)` asks for the first page from the cursor's watermark (token None) or the page
    `token` names, and returns (records, next token or None when the listing ends).
    """
    cursor = Cursor.decode(since_cursor)
    resume = cursor.extra.get(RESUME)
    page_token: str | None = resume if isinstance(resume, str) and resume else None
    token: str | None = None
    fresh: list[Record] = []
    for _ in range(MAX_PAGES_PER_CALL):
        records, token = fetch(cursor, page_token)
        fresh = take_new(cursor, records)
        if fresh or token is None:
            break
        page_token = token
    fresh.sort(key=lambda r: r.updated_at.timestamp() if r.updated_at else float("inf"))
    following = advance(cursor, fresh)
    extra = {key: value for key, value in following.extra.items() if key != RESUME}
    if following.watermark == cursor.watermark:
        # Still inside one timestamp's group: continue it from here, not from its start. With nothing new
        # in this call's pages and more to come, skip them (resume at the unread page) so the next call
        # gets further. At the listing's end the last page is kept too: the group may be larger than
        # the marks remembered, and a later call must not start it again from the top.
        resume_at = page_token if fresh or token is None else token
        if resume_at:
            extra[RESUME] = resume_at
    following = replace(following, extra=extra)
    return ChangePage(records=fresh, next_cursor=following.encode(), has_more=token is not None)


def snapshot_page(cursor: Cursor, records: list[Record], next_token: str | None) -> ChangePage:
    """One `read_changes` step for vendors whose continuation token walks a fixed snapshot.

    The pass started at the cursor's watermark; records are filtered against it on every page, the
    highest timestamp seen in the pass travels in `extra`, and becomes the watermark when the pass ends.
    """
    fresh = take_new(cursor, records)
    fresh.sort(key=lambda r: r.updated_at.timestamp() if r.updated_at else float("inf"))
    progress = Cursor(
        watermark=parse_timestamp(cursor.extra["m"]) if cursor.extra.get("m") else cursor.watermark,
        seen=tuple(cursor.extra.get("ms", cursor.seen)),
    )
    progress = advance(progress, fresh)
    if next_token:
        extra = {"m": progress.watermark.isoformat() if progress.watermark else None, "ms": list(progress.seen)}
        return ChangePage(fresh, replace(cursor, token=next_token, extra=extra).encode(), True)
    return ChangePage(fresh, Cursor(watermark=progress.watermark, seen=progress.seen).encode(), False)
