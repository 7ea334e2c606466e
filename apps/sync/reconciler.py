"""The reconciler: both sides of a workflow compared in full, and optionally repaired.

It reads every live record on both sides (ids and mapped fields, deletes included where the vendor
reports them), walks the record links and reports:

- pairs that agree on every mapped field, and pairs that differ (with the fields);
- records on one side with no partner (missing on the other side);
- links whose record is gone from one side while the link still says "linked" (an unpropagated delete);
- duplicates: unlinked records on a written side that carry exactly the content of a linked record there
  (what a create sent twice would leave behind).

Agreement is agreeing pairs over everything that should be a synced pair. `--repair` sends each finding
through the engine (create what is missing, apply the delete policy to vanished records, rewrite differing
fields from the source, the system of record for a repair) and compares again. Duplicates are reported,
never deleted automatically: only a person should remove records from a customer's system.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from apps.connectors.providers.base import Record
from apps.sync.engine import REPEATED_PAGES_LIMIT, SyncEngine
from apps.sync.models import LinkState, RecordLink, Side

MAX_LISTED = 50


@dataclass
class ReconcileReport:
    source_records: int = 0
    target_records: int = 0
    agreeing: int = 0
    differing: list[dict[str, Any]] = field(default_factory=list)
    missing_on_target: list[str] = field(default_factory=list)
    missing_on_source: list[str] = field(default_factory=list)
    vanished: list[dict[str, Any]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    unlinked_target: int = 0
    tombstoned: int = 0

    @property
    def expected(self) -> int:
        return (
            self.agreeing
            + len(self.differing)
            + len(self.missing_on_target)
            + len(self.missing_on_source)
            + len(self.vanished)
            + len(self.pending)
            + len(self.duplicates)
        )

    @property
    def agreement_percent(self) -> float:
        if not self.expected:
            return 100.0
        return round(100.0 * self.agreeing / self.expected, 3)

    @property
    def missing(self) -> int:
        return len(self.missing_on_target) + len(self.missing_on_source) + len(self.pending)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("differing", "missing_on_target", "missing_on_source", "vanished", "pending", "duplicates"):
            data[f"{name}_count"] = len(data[name])
            data[name] = data[name][:MAX_LISTED]
        data["expected"] = self.expected
        data["agreement_percent"] = self.agreement_percent
        return data


class IncompleteRead(Exception):
    """A side's change feed kept returning records already read: its full contents could not be compared."""


def read_all(engine: SyncEngine, side: str) -> dict[str, Record]:
    """Every live record of one side, read through its change feed from the start."""
    endpoint = engine.endpoints[side]
    records: dict[str, Record] = {}
    seen: set[str] = set()
    cursor: str | None = None
    repeated = 0
    while True:
        page = engine.call(endpoint, partial(endpoint.provider.read_changes, endpoint.object_type, cursor))
        fresh = [record for record in page.records if record.id not in seen]
        for record in page.records:
            seen.add(record.id)
            if record.deleted:
                records.pop(record.id, None)
            else:
                records[record.id] = record
        cursor = page.next_cursor
        if not page.has_more:
            return records
        repeated = 0 if fresh else repeated + 1
        if repeated >= REPEATED_PAGES_LIMIT:
            raise IncompleteRead(
                f"The {side} change feed kept returning records already read ({len(seen)} so far); "
                "too many records share one modification time for its cursor to page through them."
            )


def compare(engine: SyncEngine) -> ReconcileReport:
    mapping = engine.mapping
    source, target = read_all(engine, Side.SOURCE), read_all(engine, Side.TARGET)
    report = ReconcileReport(source_records=len(source), target_records=len(target))
    links = list(RecordLink.objects.filter(workflow=engine.workflow))
    linked_sources = {link.source_id for link in links if link.source_id}
    linked_targets = {link.target_id for link in links if link.target_id}
    linked_target_hashes: dict[str, str] = {}
    linked_source_hashes: dict[str, str] = {}
    for link in links:
        if link.state in (LinkState.TOMBSTONED, LinkState.DELETED):
            report.tombstoned += 1
            continue
        if link.state == LinkState.PENDING:
            report.pending.append(str(link.pk))
            continue
        s, t = source.get(link.source_id or ""), target.get(link.target_id or "")
        if s is None and t is None:
            report.tombstoned += 1  # gone on both sides: nothing left to disagree about
        elif s is None or t is None:
            report.vanished.append({"link": str(link.pk), "gone_from": Side.SOURCE if s is None else Side.TARGET})
        else:
            linked_target_hashes[mapping.target_hash(t.data)] = t.id
            linked_source_hashes[mapping.source_hash(s.data)] = s.id
            fields = mapping.differing_fields(s.data, t.data)
            if fields:
                report.differing.append({"link": str(link.pk), "source_id": s.id, "target_id": t.id, "fields": fields})
            else:
                report.agreeing += 1
    for record_id, record in source.items():
        if record_id in linked_sources:
            continue
        twin = linked_source_hashes.get(mapping.source_hash(record.data))
        if engine.workflow.is_bidirectional and twin is not None:
            report.duplicates.append({"side": Side.SOURCE, "id": record_id, "copy_of": twin})
        else:
            report.missing_on_target.append(record_id)
    for record_id, record in target.items():
        if record_id in linked_targets:
            continue
        twin = linked_target_hashes.get(mapping.target_hash(record.data))
        if twin is not None:
            report.duplicates.append({"side": Side.TARGET, "id": record_id, "copy_of": twin})
        elif engine.workflow.is_bidirectional:
            report.missing_on_source.append(record_id)
        else:
            report.unlinked_target += 1  # a one-way workflow leaves the target's own records alone
    return report


def repair(engine: SyncEngine, report: ReconcileReport) -> None:
    """Send every finding but duplicates through the engine, one record at a time."""
    by_pk = {str(link.pk): link for link in RecordLink.objects.filter(workflow=engine.workflow)}
    for record_id in report.missing_on_target:
        engine.guarded(Side.SOURCE, record_id, partial(engine.process_by_id, Side.SOURCE, record_id))
    for record_id in report.missing_on_source:
        engine.guarded(Side.TARGET, record_id, partial(engine.process_by_id, Side.TARGET, record_id))
    for item in report.vanished:
        link = by_pk[item["link"]]
        gone = str(item["gone_from"])
        record_id = link.side_id(gone) or ""
        engine.guarded(gone, record_id, partial(engine.handle_delete, gone, record_id, link))
    for item in report.differing:
        link = by_pk[item["link"]]
        engine.guarded(Side.SOURCE, link.source_id or "", partial(engine.repair_pair, link))
    for pk in report.pending:
        link = by_pk[pk]
        origin = Side.SOURCE if link.pending_side == Side.TARGET else Side.TARGET
        origin_id = link.side_id(origin)
        if origin_id:
            engine.guarded(origin, origin_id, partial(engine.process_by_id, origin, origin_id))
