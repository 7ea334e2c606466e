"""The sync engine: one run of one workflow, against the two connectors' real APIs.

A run, in order:

1. **Target feed** (from the target cursor): records we created there but could not confirm (a worker
   killed between the write and the commit) are adopted by content hash; our own writes coming back are
   recognised by the hash of what we wrote and dropped; in a bidirectional workflow real changes flow to
   the source. The cursor advances after each page, once that page's writes have committed.
2. **Source feed** (from the source cursor): new records are created on the target (the link is reserved
   and committed first, and the create carries its idempotency key where the provider honours one);
   changed records are merged three-way against the link's snapshots and written; deletes propagate or
   tombstone per the workflow's delete policy.
3. **Failed records** that may succeed now (transient errors) are tried again.
4. **Pending links** still unsettled are settled: the create is sent again with the same idempotency key.

Every record goes through on its own: a record that cannot be mapped, fails schema validation or is
refused by the vendor lands on the failed list and the run goes on. Transient errors (429, 5xx) that
survive the transport's retries are retried again here under the connector's retry policy; if a system
stays down, the run stops, and the next one resumes from the committed cursors.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors.connections import provider_for
from apps.connectors.errors import ConnectorError, InvalidCursor, NotSupported, RateLimited, RecordNotFound
from apps.connectors.models import Connector, ConnectorStatus
from apps.connectors.policies import RetryPolicy
from apps.connectors.providers.base import Provider, Record
from apps.security.services import record_audit_event
from apps.sync.leases import renew_run_lease
from apps.sync.mapping import TransformError
from apps.sync.models import (
    Conflict,
    ConflictStatus,
    DataMovement,
    DeletePolicy,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    LinkState,
    MovementDirection,
    MovementOperation,
    RecordLink,
    RunStatus,
    Side,
    SyncRun,
    WorkflowStatus,
)
from apps.sync.pairs import WorkflowMapping, content_hash, plan_pair, project
from apps.sync.paths import MISSING, get_path, set_path
from apps.sync.residency import ResidencyRefused, check_residency_before_write
from apps.sync.schemas import record_errors

logger = logging.getLogger(__name__)

T = TypeVar("T")

ERROR_SAMPLES = 20
# After this many records in a row fail with transient errors, the system is down: stop and resume later.
TRANSIENT_STREAK_LIMIT = 5
PROGRESS_EVERY_SECONDS = 1.0
# Pages in a row holding nothing this run has not read already, before a feed counts as going in circles.
REPEATED_PAGES_LIMIT = 5
# How far a vendor's clock may trail ours when matching a record left by an interrupted create.
ADOPTION_CLOCK_SLACK = timedelta(minutes=5)


class RunAborted(Exception):
    """The run cannot go on (lease lost, workflow paused, a system down); everything committed stays."""


class RecordFailed(Exception):
    """One record cannot be carried across; it goes to the failed list and the run goes on."""

    def __init__(
        self,
        message: str,
        *,
        error_class: str,
        code: str = "",
        details: list[Any] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = error_class
        self.code = code
        self.details = details or []
        self.retryable = retryable


def other(side: str) -> str:
    return Side.TARGET if side == Side.SOURCE else Side.SOURCE


def direction_to(side: str) -> str:
    return MovementDirection.TO_TARGET if side == Side.TARGET else MovementDirection.TO_SOURCE


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    """Paths of the leaves of a nested dict (lists count as leaves)."""
    if not isinstance(data, dict) or not data:
        return [prefix] if prefix else []
    paths: list[str] = []
    for key, value in data.items():
        paths.extend(leaf_paths(value, f"{prefix}.{key}" if prefix else str(key)))
    return paths


@dataclass
class Endpoint:
    """One side of a workflow as the engine uses it: a connector's provider and one of its object types."""

    side: str
    connector: Connector
    object_type: str
    provider: Provider
    schema: dict[str, Any]
    retry: RetryPolicy
    supports_idempotency_keys: bool


@dataclass
class RunCounts:
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    unchanged: int = 0
    echoes: int = 0
    conflicts: int = 0
    estimated: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_counts: dict[str, int] = field(default_factory=dict)

    def wrote(self, direction: str, operation: str) -> None:
        bucket = self.stats.setdefault(direction, {})
        bucket[operation] = bucket.get(operation, 0) + 1

    def error(self, *, error_class: str, message: str, side: str, record_id: str, code: str = "") -> None:
        self.error_counts[error_class] = self.error_counts.get(error_class, 0) + 1
        if len(self.errors) < ERROR_SAMPLES:
            self.errors.append(
                {
                    "class": error_class,
                    "code": code,
                    "message": message[:500],
                    "side": side,
                    "record_id": record_id,
                    "at": timezone.now().isoformat(),
                }
            )


class SyncEngine:
    """Runs one workflow once. Build it inside the workflow's run lease; call `run_feeds` or `run_records`."""

    def __init__(
        self,
        *,
        workflow: IntegrationWorkflow,
        run: SyncRun,
        lease_token: str,
        actor: Any = None,
        origin: dict[str, Any] | None = None,
    ) -> None:
        self.workflow = workflow
        self.run = run
        self.lease_token = lease_token
        self.actor = actor
        self.origin = origin or {}
        self.mapping = WorkflowMapping.parse(workflow.mappings)
        self.counts = RunCounts()
        self.touched: set[tuple[str, str]] = set()
        self.transient_streak = 0
        self._last_flush = time.monotonic()
        self._stack = contextlib.ExitStack()
        self.endpoints: dict[str, Endpoint] = {}
        self.pending: dict[str, list[RecordLink]] = {Side.SOURCE: [], Side.TARGET: []}
        self.feeds_read: set[str] = set()
        self.deferred: set[tuple[str, str]] = set()
        self.still_failing: set[tuple[str, str]] = set()
        # Links of the page being processed, read in one query; each is used once, later reads go to the DB.
        self._prefetched: dict[tuple[str, str], RecordLink | None] = {}
        self.open_failures: set[tuple[str, str]] = set()
        self.links_with_conflicts: set[Any] = set()
        self.notes: list[str] = []
        # Connectors the residency rules allowed in this run: asked once per run, not once per record.
        # A refusal is never remembered, so every refused write is its own failed record and security event.
        self._residency_allowed: set[Any] = set()

    # -- Setup -----------------------------------------------------------------------------------------------

    def __enter__(self) -> SyncEngine:
        for side, connector, object_type in (
            (Side.SOURCE, self.workflow.source_connector, self.workflow.source_object_type),
            (Side.TARGET, self.workflow.target_connector, self.workflow.target_object_type),
        ):
            if connector.status == ConnectorStatus.PAUSED:
                raise RunAborted(f"The {side} connector {connector.name!r} is paused.")
            provider = self._stack.enter_context(provider_for(connector))
            schema = provider.object_type(object_type).schema
            self.endpoints[side] = Endpoint(
                side=side,
                connector=connector,
                object_type=object_type,
                provider=provider,
                schema=schema,
                retry=RetryPolicy.from_dict(connector.retry_policy),
                supports_idempotency_keys=provider.supports_idempotency_keys,
            )
        for link in RecordLink.objects.filter(workflow=self.workflow, state=LinkState.PENDING):
            self.pending[link.pending_side or Side.TARGET].append(link)
        self.open_failures = {
            (str(side), str(record_id))
            for side, record_id in FailedRecord.objects.filter(
                workflow=self.workflow, status=FailedRecordStatus.OPEN
            ).values_list("side", "record_id")
        }
        # Most pairs never had a conflict: only those that have one are looked up, pair by pair.
        self.links_with_conflicts = set(
            Conflict.objects.filter(
                workflow=self.workflow, status__in=(ConflictStatus.OPEN, ConflictStatus.RESOLVED)
            ).values_list("link_id", flat=True)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- Entry points ----------------------------------------------------------------------------------------

    def run_feeds(self) -> None:
        """A scheduled (or manual) run: decided conflicts, both change feeds, failed records, unsettled links."""
        self.apply_resolutions()
        self._read_feed(Side.TARGET)
        self._read_feed(Side.SOURCE)
        self.retry_failed_records(only_retryable=True)
        self._settle_pending_links()

    def run_records(self, refs: list[dict[str, Any]], *, retry_refused: bool = False) -> None:
        """A near-real-time run for the records a webhook (or an operator's retry) names.

        When a create is still unsettled, that side's feed is read first: a record it left behind is adopted
        before anything could create it a second time.
        """
        for pending_side in (Side.TARGET, Side.SOURCE):
            if self.pending[pending_side]:
                self._read_feed(pending_side)
        self.counts.estimated += len(refs)
        if retry_refused:
            FailedRecord.objects.filter(
                workflow=self.workflow,
                status=FailedRecordStatus.OPEN,
                side__in=[str(ref.get("side")) for ref in refs],
                record_id__in=[str(ref.get("id")) for ref in refs],
            ).update(retryable=True)
        for ref in refs:
            side, record_id = str(ref.get("side")), str(ref.get("id"))
            if side not in (Side.SOURCE, Side.TARGET) or (side, record_id) in self.touched:
                continue
            self.guarded(side, record_id, partial(self.process_by_id, side, record_id))
        self._settle_pending_links()

    def apply_resolutions(self) -> None:
        """Write the values operators chose for conflicts (status `resolved`)."""
        decided = Conflict.objects.filter(workflow=self.workflow, status=ConflictStatus.RESOLVED).select_related(
            "link", "resolved_by"
        )
        for conflict in decided.order_by("resolved_at"):
            self.counts.estimated += 1
            self.counts.processed += 1
            try:
                self._apply_resolution(conflict)
            except RecordFailed as exc:
                Conflict.objects.filter(pk=conflict.pk).update(
                    status=ConflictStatus.FAILED, error=exc.message[:2000], updated_at=timezone.now()
                )
                self.counts.failed += 1
                self.counts.error(
                    error_class=exc.error_class,
                    message=exc.message,
                    side=Side.TARGET,
                    record_id=conflict.target_record_id,
                    code=exc.code,
                )
            self.heartbeat()

    def outcome(self) -> str:
        return RunStatus.PARTIAL if self.counts.failed or self.notes else RunStatus.SUCCEEDED

    def retry_failed_records(self, *, only_retryable: bool) -> None:
        failed = FailedRecord.objects.filter(workflow=self.workflow, status=FailedRecordStatus.OPEN)
        if only_retryable:
            failed = failed.filter(retryable=True)
        for item in failed.order_by("first_failed_at")[:500]:
            if (item.side, item.record_id) in self.touched:
                continue
            self.counts.estimated += 1
            self.guarded(item.side, item.record_id, partial(self.process_by_id, item.side, item.record_id))

    # -- Feeds -----------------------------------------------------------------------------------------------

    def _read_feed(self, side: str) -> None:
        endpoint = self.endpoints[side]
        field_name = f"{side}_cursor"
        cursor: str | None = getattr(self.workflow, field_name) or None
        repeated = 0
        while True:
            try:
                page = self.call(endpoint, partial(endpoint.provider.read_changes, endpoint.object_type, cursor))
            except InvalidCursor as exc:
                if cursor is None:
                    raise RunAborted(f"The {side} connector refused a full read: {exc.message}") from exc
                logger.warning("Workflow %s: %s cursor refused, reading %s in full.", self.workflow.pk, side, side)
                cursor = None
                continue
            except ConnectorError as exc:
                raise RunAborted(f"Reading {side} changes failed: {type(exc).__name__}: {exc.message}") from exc
            self.counts.estimated = self.counts.processed + len(page.records) + (100 if page.has_more else 0)
            self._prefetch_links(side, [record.id for record in page.records])
            fresh = [record for record in page.records if (side, record.id) not in self.touched]
            for record in fresh:
                self.guarded(side, record.id, partial(self._process_change, side, record))
            # Every record of the page is settled (written, unchanged or on the failed list): move on.
            self._save_cursor(field_name, page.next_cursor or "")
            cursor = page.next_cursor
            if not page.has_more:
                break
            repeated = 0 if fresh else repeated + 1
            if repeated >= REPEATED_PAGES_LIMIT:
                # A feed that only hands back what this run has read is going round in circles (a cursor
                # that cannot tell apart more records than it remembers at one timestamp): stop reading it
                # rather than run forever; the run says so, and the reconciler finds what was not read.
                self.counts.error(
                    error_class="FeedRepeating",
                    message=f"The {side} change feed returned only records already read, {repeated} pages running.",
                    side=side,
                    record_id="",
                )
                self.notes.append(f"Stopped reading the {side} change feed: it kept returning records already read.")
                break
        self.feeds_read.add(side)

    def _save_cursor(self, field_name: str, value: str) -> None:
        saved = IntegrationWorkflow.objects.filter(pk=self.workflow.pk, lease_token=self.lease_token).update(
            **{field_name: value}
        )
        if not saved:
            raise RunAborted("The run lost its lease; another run has taken over.")
        setattr(self.workflow, field_name, value)
        self.heartbeat(force=True)

    # -- One record ------------------------------------------------------------------------------------------

    def guarded(self, side: str, record_id: str, work: Callable[[], None]) -> None:
        """Run one record's work; a failure is recorded against the record, never stops the run."""
        self.touched.add((side, record_id))
        self.counts.processed += 1
        try:
            work()
        except RecordFailed as exc:
            self._fail(side, record_id, exc)
            if exc.retryable:
                self.transient_streak += 1
                if self.transient_streak >= TRANSIENT_STREAK_LIMIT:
                    raise RunAborted(f"{self.transient_streak} records in a row failed with transient errors.") from exc
            else:
                self.transient_streak = 0
        else:
            self.transient_streak = 0
            if (side, record_id) not in self.still_failing:
                self._resolve_failed(side, record_id)
        self.heartbeat()

    def process_by_id(self, side: str, record_id: str) -> None:
        endpoint = self.endpoints[side]
        try:
            record = self.call(endpoint, lambda: endpoint.provider.get(endpoint.object_type, record_id))
        except RecordNotFound:
            record = Record(endpoint.object_type, record_id, {}, deleted=True)
        except ConnectorError as exc:
            raise self._as_failure(exc) from exc
        self._process_change(side, record)

    def _prefetch_links(self, side: str, record_ids: list[str]) -> None:
        column = f"{side}_id"
        self._prefetched.clear()
        found = {
            getattr(link, column): link
            for link in RecordLink.objects.filter(workflow=self.workflow, **{f"{column}__in": record_ids})
        }
        for record_id in record_ids:
            self._prefetched[(side, record_id)] = found.get(record_id)

    def _link_for(self, side: str, record_id: str) -> RecordLink | None:
        if (side, record_id) in self._prefetched:
            return self._prefetched.pop((side, record_id))
        lookup = {"source_id": record_id} if side == Side.SOURCE else {"target_id": record_id}
        return RecordLink.objects.filter(workflow=self.workflow, **lookup).first()

    def _process_change(self, side: str, record: Record) -> None:
        link = self._link_for(side, record.id)
        if record.deleted:
            self.handle_delete(side, record.id, link)
            return
        if link is None:
            if self._adopt(side, record):
                return
            if side == Side.SOURCE or self.workflow.is_bidirectional:
                self._create_counterpart(side, record, None)
            else:
                self.counts.unchanged += 1  # a target-only record of a one-way workflow is none of our business
            return
        if link.state == LinkState.PENDING:
            if link.pending_side == other(side) and self._refused_unchanged(link, side, record):
                self.counts.unchanged += 1  # refused for good before and not changed since: wait for a change
                self.still_failing.add((side, record.id))
            elif link.pending_side == other(side) and link.pending_side in self.feeds_read:
                self._create_counterpart(side, record, link)
            else:
                # Settled once the other side's feed has been read (it may hold the record to adopt).
                self.deferred.add((side, record.id))
                self.counts.unchanged += 1
            return
        if link.state in (LinkState.TOMBSTONED, LinkState.DELETED):
            self.counts.unchanged += 1
            return
        digest = self._hash(side, record.data)
        if digest == getattr(link, f"{side}_written_hash"):
            self.counts.echoes += 1
            return
        if digest == getattr(link, f"{side}_hash"):
            self.counts.unchanged += 1
            return
        if side == Side.TARGET and not self.workflow.is_bidirectional:
            # One-way: target edits stay where they are; the next source change meets them in the merge.
            self.counts.unchanged += 1
            return
        self._sync_pair(link, **{side: record})

    def _refused_unchanged(self, link: RecordLink, side: str, record: Record) -> bool:
        if self._hash(side, record.data) != getattr(link, f"{side}_hash"):
            return False
        return FailedRecord.objects.filter(
            workflow=self.workflow, side=side, record_id=record.id, status=FailedRecordStatus.OPEN, retryable=False
        ).exists()

    def _hash(self, side: str, data: dict[str, Any]) -> str:
        return self.mapping.source_hash(data) if side == Side.SOURCE else self.mapping.target_hash(data)

    def _snapshot(self, side: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.mapping.source_snapshot(data) if side == Side.SOURCE else self.mapping.target_snapshot(data)

    # -- Creating --------------------------------------------------------------------------------------------

    def _payload_for(self, destination: str, record: Record) -> dict[str, Any]:
        try:
            if destination == Side.TARGET:
                return self.mapping.forward(record.data)
            return self.mapping.backward(record.data)
        except TransformError as exc:
            raise RecordFailed(exc.message, error_class="mapping", code=exc.code, details=[str(exc)]) from exc

    def _validate(self, destination: str, payload: dict[str, Any], *, partial: bool) -> None:
        problems = record_errors(payload, self.endpoints[destination].schema, partial=partial)
        if problems:
            raise RecordFailed(
                f"The {destination} record would not be valid: {'; '.join(problems)}",
                error_class="validation",
                code="schema_violation",
                details=problems,
            )

    def _create_counterpart(self, origin: str, record: Record, link: RecordLink | None) -> None:
        """Create the partner of `record` on the other side, reserving the link first."""
        destination = other(origin)
        endpoint = self.endpoints[destination]
        payload = self._payload_for(destination, record)
        self._validate(destination, payload, partial=False)
        # Before the link is reserved: a refused record leaves no pending link behind.
        self._check_residency(endpoint)
        if link is None:
            link = self._reserve_link(origin, record, destination, payload)
        key = str(link.idempotency_key) if endpoint.supports_idempotency_keys else None
        try:
            created = self.call(
                endpoint,
                lambda: endpoint.provider.create(endpoint.object_type, payload, idempotency_key=key),
                # Without an idempotency key a create is resent only when the vendor certainly refused it.
                retry_on=(ConnectorError,) if key else (RateLimited,),
            )
        except ConnectorError as exc:
            # The reservation stays even when the vendor refused: a create made of several calls (create,
            # then set the state) can fail after the record exists, and the next read of that side's feed
            # must find and adopt it rather than create it again.
            raise self._as_failure(exc) from exc
        self._confirm_create(link, origin, record, destination, created, fields=leaf_paths(payload))

    def _reserve_link(self, origin: str, record: Record, destination: str, payload: dict[str, Any]) -> RecordLink:
        values: dict[str, Any] = {
            "organization_id": self.workflow.organization_id,
            "workflow": self.workflow,
            "state": LinkState.PENDING,
            "pending_side": destination,
            # What is about to be written: adoption compares a found record with it on these fields.
            "pending_hash": content_hash(payload),
            f"{destination}_snapshot": payload,
            f"{origin}_id": record.id,
            f"{origin}_snapshot": self._snapshot(origin, record.data),
            f"{origin}_hash": self._hash(origin, record.data),
            f"{origin}_updated_at": record.updated_at,
            "last_run": self.run,
        }
        try:
            with transaction.atomic():
                link = RecordLink.objects.create(**values)
        except IntegrityError:
            # A link for this record appeared meanwhile (a webhook run between our read and now).
            existing = self._link_for(origin, record.id)
            if existing is None:
                raise
            return existing
        self.pending[destination].append(link)
        return link

    def _matches_pending(self, link: RecordLink, side: str, record: Record) -> bool:
        expected = getattr(link, f"{side}_snapshot") or {}
        if content_hash(project(record.data, leaf_paths(expected))) == link.pending_hash:
            return True
        # A create cut short between its calls leaves a record with the required fields but not yet the
        # rest: match on those, for a record that changed after the reservation was made.
        required = [
            name for name in self.endpoints[side].schema.get("required", []) if get_path(expected, name) is not MISSING
        ]
        if not required:
            return False
        if record.updated_at is not None and record.updated_at < link.created_at - ADOPTION_CLOCK_SLACK:
            return False
        return all(get_path(record.data, name) == get_path(expected, name) for name in required)

    def _adopt(self, side: str, record: Record) -> bool:
        """A record on `side` that an interrupted create left behind: link it (and finish it), never repeat it."""
        for link in self.pending[side]:
            if not self._matches_pending(link, side, record):
                continue
            expected = getattr(link, f"{side}_snapshot") or {}
            origin = other(side)
            with transaction.atomic():
                locked = RecordLink.objects.select_for_update().filter(pk=link.pk, state=LinkState.PENDING).first()
                if locked is None:
                    continue
                self._confirm_create(locked, origin, None, side, record, fields=leaf_paths(expected), adopted=True)
            self.pending[side] = [p for p in self.pending[side] if p.pk != link.pk]
            self.counts.wrote(direction_to(side), "adopted")
            self._resolve_failed(origin, locked.side_id(origin) or "")
            self._finish_adopted(locked, side, record, expected)
            return True
        return False

    def _finish_adopted(self, link: RecordLink, side: str, record: Record, expected: dict[str, Any]) -> None:
        """Write what the interrupted create did not get to (e.g. the state a second call was to set)."""
        missing: dict[str, Any] = {}
        for path in leaf_paths(expected):
            if get_path(record.data, path) != get_path(expected, path):
                set_path(missing, path, get_path(expected, path))
        if not missing:
            return
        self._validate(side, missing, partial=True)
        before = getattr(link, f"{side}_hash")
        updated = self._update(side, record.id, missing)
        digest = self._hash(side, updated.data)
        setattr(link, f"{side}_snapshot", self._snapshot(side, updated.data))
        setattr(link, f"{side}_hash", digest)
        setattr(link, f"{side}_written_hash", digest)
        setattr(link, f"{side}_updated_at", updated.updated_at)
        with transaction.atomic():
            link.save()
            self._record_movement(
                link=link,
                destination=side,
                operation=MovementOperation.UPDATE,
                fields=leaf_paths(missing),
                before_hash=before,
                after_hash=digest,
                origin_record_id=link.side_id(other(side)) or "",
                origin_updated_at=None,
                extra={"completes_create": True},
            )
        self.counts.wrote(direction_to(side), MovementOperation.UPDATE)

    def _confirm_create(
        self,
        link: RecordLink,
        origin: str,
        origin_record: Record | None,
        destination: str,
        created: Record,
        *,
        fields: list[str],
        adopted: bool = False,
    ) -> None:
        now = timezone.now()
        setattr(link, f"{destination}_id", created.id)
        setattr(link, f"{destination}_snapshot", self._snapshot(destination, created.data))
        digest = self._hash(destination, created.data)
        setattr(link, f"{destination}_hash", digest)
        setattr(link, f"{destination}_written_hash", digest)
        setattr(link, f"{destination}_updated_at", created.updated_at)
        if origin_record is not None:
            setattr(link, f"{origin}_snapshot", self._snapshot(origin, origin_record.data))
            setattr(link, f"{origin}_hash", self._hash(origin, origin_record.data))
            setattr(link, f"{origin}_updated_at", origin_record.updated_at)
        link.state = LinkState.LINKED
        link.pending_side = ""
        link.pending_hash = ""
        link.last_synced_at = now
        link.last_run = self.run
        with transaction.atomic():
            link.save()
            self._record_movement(
                link=link,
                destination=destination,
                operation=MovementOperation.CREATE,
                fields=fields,
                before_hash="",
                after_hash=digest,
                origin_record_id=getattr(link, f"{origin}_id") or "",
                origin_updated_at=origin_record.updated_at if origin_record else None,
                extra={"adopted": True} if adopted else None,
            )
        if not adopted:
            self.counts.wrote(direction_to(destination), MovementOperation.CREATE)
        self.counts.succeeded += 1
        self.pending[destination] = [p for p in self.pending[destination] if p.pk != link.pk]

    def _settle_pending_links(self) -> None:
        """Creates still unsettled after the feeds were read: no record to adopt turned up, so send them again.

        A create the vendor refused for good (an open, non-retryable failed record) waits until its record
        changes or an operator retries it, instead of being sent again every run.
        """
        refused = set(
            FailedRecord.objects.filter(
                workflow=self.workflow, status=FailedRecordStatus.OPEN, retryable=False
            ).values_list("side", "record_id")
        )
        for destination in (Side.TARGET, Side.SOURCE):
            if destination not in self.feeds_read:
                continue  # nothing may be created there before that side's feed was read for orphans
            for link in list(self.pending[destination]):
                origin = other(destination)
                origin_id = link.side_id(origin)
                if not origin_id or (origin, origin_id) in refused:
                    continue
                if (origin, origin_id) in self.touched and (origin, origin_id) not in self.deferred:
                    continue
                self.touched.discard((origin, origin_id))
                self.counts.estimated += 1
                self.guarded(origin, origin_id, partial(self.process_by_id, origin, origin_id))

    # -- Updating a linked pair ------------------------------------------------------------------------------

    def _fetch(self, side: str, record_id: str) -> Record | None:
        endpoint = self.endpoints[side]
        try:
            return self.call(endpoint, lambda: endpoint.provider.get(endpoint.object_type, record_id))
        except RecordNotFound:
            return None
        except ConnectorError as exc:
            raise self._as_failure(exc) from exc

    def _sync_pair(self, link: RecordLink, *, source: Record | None = None, target: Record | None = None) -> None:
        if source is None:
            source = self._fetch(Side.SOURCE, link.source_id or "")
            if source is None:
                self.handle_delete(Side.SOURCE, link.source_id or "", link)
                return
        if target is None:
            target = self._fetch(Side.TARGET, link.target_id or "")
            if target is None:
                self.handle_delete(Side.TARGET, link.target_id or "", link)
                return
        held = self._held_fields(link, source, target)
        try:
            plan = plan_pair(
                self.mapping,
                source_now=source.data,
                target_now=target.data,
                source_snapshot=link.source_snapshot,
                target_snapshot=link.target_snapshot,
                policy=self.workflow.conflict_policy,
                bidirectional=self.workflow.is_bidirectional,
                source_modified_at=source.updated_at,
                target_modified_at=target.updated_at,
                field_authority=self.workflow.field_authority,
                held_fields=held,
            )
        except TransformError as exc:
            raise RecordFailed(exc.message, error_class="mapping", code=exc.code, details=[str(exc)]) from exc
        if plan.to_target:
            self._validate(Side.TARGET, plan.to_target, partial=True)
        if plan.to_source:
            self._validate(Side.SOURCE, plan.to_source, partial=True)
        written: dict[str, Record] = {}
        for destination, payload in ((Side.TARGET, plan.to_target), (Side.SOURCE, plan.to_source)):
            if payload:
                written[destination] = self._update(destination, link.side_id(destination) or "", payload)
        self._confirm_update(link, source, target, written, plan.target_fields, plan.source_fields, plan.conflicts)

    def _update(self, destination: str, record_id: str, payload: dict[str, Any]) -> Record:
        endpoint = self.endpoints[destination]
        self._check_residency(endpoint)
        try:
            return self.call(endpoint, lambda: endpoint.provider.update(endpoint.object_type, record_id, payload))
        except ConnectorError as exc:
            raise self._as_failure(exc) from exc

    def _confirm_update(
        self,
        link: RecordLink,
        source: Record,
        target: Record,
        written: dict[str, Record],
        target_fields: list[str],
        source_fields: list[str],
        conflicts: list[Any],
    ) -> None:
        now = timezone.now()
        latest: dict[str, Record] = {
            Side.SOURCE: written.get(Side.SOURCE, source),
            Side.TARGET: written.get(Side.TARGET, target),
        }
        before: dict[str, str] = {Side.SOURCE: link.source_hash, Side.TARGET: link.target_hash}
        for side, record in latest.items():
            setattr(link, f"{side}_snapshot", self._snapshot(side, record.data))
            setattr(link, f"{side}_hash", self._hash(side, record.data))
            setattr(link, f"{side}_updated_at", record.updated_at)
            if side in written:
                setattr(link, f"{side}_written_hash", getattr(link, f"{side}_hash"))
        link.last_synced_at = now
        link.last_run = self.run
        with transaction.atomic():
            link.save()
            for destination, fields in ((Side.TARGET, target_fields), (Side.SOURCE, source_fields)):
                if destination not in written:
                    continue
                origin = other(destination)
                self._record_movement(
                    link=link,
                    destination=destination,
                    operation=MovementOperation.UPDATE,
                    fields=fields,
                    before_hash=before[destination],
                    after_hash=getattr(link, f"{destination}_hash"),
                    origin_record_id=link.side_id(origin) or "",
                    origin_updated_at=latest[origin].updated_at,
                )
                self.counts.wrote(direction_to(destination), MovementOperation.UPDATE)
            for conflict in conflicts:
                opened = self._open_conflict(link, conflict, source, target)
                self.counts.conflicts += int(opened)
        if written:
            self.counts.succeeded += 1
        elif not conflicts:
            self.counts.unchanged += 1

    def _held_fields(self, link: RecordLink, source: Record, target: Record) -> list[str]:
        """Fields with an open conflict; a conflict whose two sides agree again is closed as superseded."""
        if link.pk not in self.links_with_conflicts:
            return []
        held = list(
            Conflict.objects.filter(link=link, status__in=(ConflictStatus.OPEN, ConflictStatus.RESOLVED)).values_list(
                "pk", "field", "status"
            )
        )
        if not held:
            return []
        try:
            forward = self.mapping.forward(source.data)
        except TransformError:
            forward = {}
        keep: list[str] = []
        for pk, name, status in held:
            if status == ConflictStatus.OPEN and get_path(forward, name) == get_path(target.data, name):
                Conflict.objects.filter(pk=pk, status=ConflictStatus.OPEN).update(
                    status=ConflictStatus.SUPERSEDED, updated_at=timezone.now()
                )
            else:
                keep.append(name)
        return keep

    def _open_conflict(self, link: RecordLink, conflict: Any, source: Record, target: Record) -> bool:
        def plain(value: Any) -> Any:
            return None if value is MISSING else value

        self.links_with_conflicts.add(link.pk)
        try:
            with transaction.atomic():
                Conflict.objects.create(
                    organization_id=self.workflow.organization_id,
                    workflow=self.workflow,
                    link=link,
                    run=self.run,
                    field=conflict.field,
                    base_value=plain(conflict.base),
                    source_value=plain(conflict.source_value),
                    target_value=plain(conflict.target_value),
                    source_record_id=link.source_id or "",
                    target_record_id=link.target_id or "",
                    source_modified_at=source.updated_at,
                    target_modified_at=target.updated_at,
                )
        except IntegrityError:
            return False  # already open for this field
        return True

    def repair_pair(self, link: RecordLink) -> None:
        """The reconciler's repair: make the target's mapped fields what the source says (and carry back
        fields that only flow target -> source), whatever the snapshots believe."""
        source = self._fetch(Side.SOURCE, link.source_id or "")
        target = self._fetch(Side.TARGET, link.target_id or "")
        if source is None or target is None:
            gone = Side.SOURCE if source is None else Side.TARGET
            self.handle_delete(gone, link.side_id(gone) or "", link)
            return
        fields = set(self.mapping.differing_fields(source.data, target.data))
        if not fields:
            self.counts.unchanged += 1
            return
        forward = self._payload_for(Side.TARGET, source)
        to_target: dict[str, Any] = {}
        back: dict[str, Any] = {}
        for rule in self.mapping.rules:
            if rule.target not in fields:
                continue
            if rule.goes("to_target"):
                value = get_path(forward, rule.target)
                if value is not MISSING:
                    set_path(to_target, rule.target, value)
            elif rule.source is not None:
                value = get_path(target.data, rule.target)
                if value is not MISSING:
                    back[rule.target] = value
        try:
            to_source = self.mapping.backward_fields(back) if back else {}
        except TransformError as exc:
            raise RecordFailed(exc.message, error_class="mapping", code=exc.code) from exc
        if to_target:
            self._validate(Side.TARGET, to_target, partial=True)
        if to_source:
            self._validate(Side.SOURCE, to_source, partial=True)
        written: dict[str, Record] = {}
        for destination, payload in ((Side.TARGET, to_target), (Side.SOURCE, to_source)):
            if payload:
                written[destination] = self._update(destination, link.side_id(destination) or "", payload)
        self._confirm_update(link, source, target, written, leaf_paths(to_target), leaf_paths(to_source), [])

    # -- Conflicts an operator decided ------------------------------------------------------------------------

    def _apply_resolution(self, conflict: Conflict) -> None:
        """Write the chosen value where it differs, and make it the new base of that field on both sides.

        Only the conflict's field moves into the snapshots, so other changes made meanwhile are still seen
        as changes by the next pass.
        """
        link = conflict.link
        if link.state != LinkState.LINKED:
            Conflict.objects.filter(pk=conflict.pk).update(status=ConflictStatus.SUPERSEDED, updated_at=timezone.now())
            return
        source = self._fetch(Side.SOURCE, link.source_id or "")
        target = self._fetch(Side.TARGET, link.target_id or "")
        if source is None or target is None:
            Conflict.objects.filter(pk=conflict.pk).update(status=ConflictStatus.SUPERSEDED, updated_at=timezone.now())
            return
        chosen = {
            "source": conflict.source_value,
            "target": conflict.target_value,
            "custom": conflict.resolved_value,
        }[conflict.choice]
        name = conflict.field
        to_target: dict[str, Any] = {}
        if get_path(target.data, name) != chosen:
            set_path(to_target, name, chosen)
        to_source: dict[str, Any] = {}
        if self.workflow.is_bidirectional and name in self.mapping.backward_paths:
            try:
                back = self.mapping.backward_fields({name: chosen})
            except TransformError as exc:
                raise RecordFailed(exc.message, error_class="mapping", code=exc.code) from exc
            if any(get_path(source.data, path) != get_path(back, path) for path in leaf_paths(back)):
                to_source = back
        if to_target:
            self._validate(Side.TARGET, to_target, partial=True)
        if to_source:
            self._validate(Side.SOURCE, to_source, partial=True)
        written: dict[str, Record] = {}
        for destination, payload in ((Side.TARGET, to_target), (Side.SOURCE, to_source)):
            if payload:
                written[destination] = self._update(destination, link.side_id(destination) or "", payload)
        before: dict[str, str] = {Side.SOURCE: link.source_hash, Side.TARGET: link.target_hash}
        base_back: dict[str, Any] = {}
        if name in self.mapping.backward_paths:
            with contextlib.suppress(TransformError):
                base_back = self.mapping.backward_fields({name: chosen})
        target_snapshot = copy.deepcopy(link.target_snapshot or {})
        set_path(target_snapshot, name, chosen)
        source_snapshot = copy.deepcopy(link.source_snapshot or {})
        for path in leaf_paths(base_back):
            set_path(source_snapshot, path, get_path(base_back, path))
        link.target_snapshot, link.target_hash = target_snapshot, content_hash(target_snapshot)
        link.source_snapshot, link.source_hash = source_snapshot, content_hash(source_snapshot)
        link.last_synced_at = timezone.now()
        link.last_run = self.run
        with transaction.atomic():
            link.save()
            for written_side, record in written.items():
                self._record_movement(
                    link=link,
                    destination=written_side,
                    operation=MovementOperation.UPDATE,
                    fields=[name] if written_side == Side.TARGET else leaf_paths(to_source),
                    before_hash=before[written_side],
                    after_hash=self._hash(written_side, record.data),
                    origin_record_id=link.side_id(other(written_side)) or "",
                    origin_updated_at=None,
                    extra={"conflict": str(conflict.pk), "choice": conflict.choice},
                    actor=conflict.resolved_by,
                )
                self.counts.wrote(direction_to(written_side), MovementOperation.UPDATE)
            Conflict.objects.filter(pk=conflict.pk).update(
                status=ConflictStatus.APPLIED, applied_at=timezone.now(), error="", updated_at=timezone.now()
            )
        self.counts.succeeded += 1

    # -- Deleting --------------------------------------------------------------------------------------------

    def handle_delete(self, side: str, record_id: str, link: RecordLink | None) -> None:
        """`record_id` is gone from `side`: delete its partner or tombstone the link, per the workflow."""
        if link is None:
            self.counts.unchanged += 1
            return
        if link.state in (LinkState.TOMBSTONED, LinkState.DELETED):
            self.counts.unchanged += 1
            return
        survivor = other(side)
        survivor_id = link.side_id(survivor)
        if link.state == LinkState.PENDING or not survivor_id:
            RecordLink.objects.filter(pk=link.pk).delete()
            self.pending[survivor] = [p for p in self.pending[survivor] if p.pk != link.pk]
            self.counts.unchanged += 1
            return
        may_write = survivor == Side.TARGET or self.workflow.is_bidirectional
        if may_write and self.workflow.delete_policy == DeletePolicy.PROPAGATE:
            endpoint = self.endpoints[survivor]
            self._check_residency(endpoint)
            try:
                self.call(endpoint, lambda: endpoint.provider.delete(endpoint.object_type, survivor_id))
            except RecordNotFound:
                pass  # gone on both sides already
            except NotSupported:
                self._tombstone(link, side, survivor, may_write=may_write)  # e.g. GitHub issues cannot be deleted
                return
            except ConnectorError as exc:
                raise self._as_failure(exc) from exc
            self._finish_delete(link, side, survivor, LinkState.DELETED, MovementOperation.DELETE, [], "")
            return
        self._tombstone(link, side, survivor, may_write=may_write)

    def _tombstone(self, link: RecordLink, deleted_side: str, survivor: str, *, may_write: bool) -> None:
        values: dict[str, Any] = dict((self.workflow.tombstone_values or {}).get(survivor) or {})
        after = getattr(link, f"{survivor}_hash")
        fields: list[str] = []
        if values and may_write:
            self._validate(survivor, values, partial=True)
            updated = self._update(survivor, link.side_id(survivor) or "", values)
            setattr(link, f"{survivor}_snapshot", self._snapshot(survivor, updated.data))
            after = self._hash(survivor, updated.data)
            setattr(link, f"{survivor}_hash", after)
            setattr(link, f"{survivor}_written_hash", after)
            fields = leaf_paths(values)
        self._finish_delete(
            link, deleted_side, survivor, LinkState.TOMBSTONED, MovementOperation.TOMBSTONE, fields, after
        )

    def _finish_delete(
        self,
        link: RecordLink,
        deleted_side: str,
        survivor: str,
        state: str,
        operation: str,
        fields: list[str],
        after_hash: str,
    ) -> None:
        before = getattr(link, f"{survivor}_written_hash") if fields else getattr(link, f"{survivor}_hash")
        link.state = state
        link.last_synced_at = timezone.now()
        link.last_run = self.run
        with transaction.atomic():
            link.save()
            Conflict.objects.filter(link=link, status=ConflictStatus.OPEN).update(
                status=ConflictStatus.SUPERSEDED, updated_at=timezone.now()
            )
            self._record_movement(
                link=link,
                destination=survivor,
                operation=operation,
                fields=fields,
                before_hash=before,
                after_hash=after_hash,
                origin_record_id=link.side_id(deleted_side) or "",
                origin_updated_at=None,
                extra={"deleted_side": deleted_side},
            )
        self.counts.wrote(direction_to(survivor), operation)
        self.counts.succeeded += 1

    # -- The trail -------------------------------------------------------------------------------------------

    def _record_movement(
        self,
        *,
        link: RecordLink,
        destination: str,
        operation: str,
        fields: list[str],
        before_hash: str,
        after_hash: str,
        origin_record_id: str,
        origin_updated_at: datetime | None,
        extra: dict[str, Any] | None = None,
        actor: Any = None,
    ) -> DataMovement:
        """One immutable trail entry and its audit event, inside the caller's transaction."""
        movement_id = uuid.uuid4()
        origin_side = other(destination)
        origin = {
            "side": origin_side,
            "connector": str(self.endpoints[origin_side].connector.pk),
            "object_type": self.endpoints[origin_side].object_type,
            "record_id": origin_record_id,
            "updated_at": origin_updated_at.isoformat() if origin_updated_at else None,
            **self.origin,
            **(extra or {}),
        }
        direction = direction_to(destination)
        actor = actor if actor is not None else self.actor
        event = record_audit_event(
            actor=actor,
            action=f"sync.record_{operation}",
            target=("sync.datamovement", str(movement_id)),
            organization=self.workflow.organization_id,
            data={
                "workflow": str(self.workflow.pk),
                "run": str(self.run.pk),
                "link": str(link.pk),
                "direction": direction,
                "connector": str(self.endpoints[destination].connector.pk),
                "source_record_id": link.source_id or "",
                "target_record_id": link.target_id or "",
                "fields": sorted(fields),
                "before_hash": before_hash,
                "after_hash": after_hash,
            },
        )
        actor_type, actor_id = ("user", str(actor.pk)) if actor is not None else ("system", "")
        return DataMovement.objects.create(
            id=movement_id,
            organization_id=self.workflow.organization_id,
            workflow=self.workflow,
            run=self.run,
            link=link,
            direction=direction,
            operation=operation,
            source_record_id=link.source_id or "",
            target_record_id=link.target_id or "",
            fields_changed=sorted(fields),
            before_hash=before_hash,
            after_hash=after_hash,
            actor_type=actor_type,
            actor_id=actor_id,
            trigger=self.run.trigger,
            origin=origin,
            audit_event=event,
            occurred_at=event.occurred_at,
        )

    # -- Failures --------------------------------------------------------------------------------------------

    def _as_failure(self, exc: ConnectorError) -> RecordFailed:
        return RecordFailed(
            exc.message,
            error_class=type(exc).__name__,
            code=exc.code,
            details=[exc.body] if isinstance(exc.body, dict | list | str) else [],
            retryable=exc.retryable,
        )

    def _check_residency(self, endpoint: Endpoint) -> None:
        if endpoint.connector.pk in self._residency_allowed:
            return
        try:
            check_residency_before_write(workflow=self.workflow, connector=endpoint.connector)
        except ResidencyRefused as exc:
            # Permanent: the same rule refuses the same write on every retry until someone changes it.
            raise RecordFailed(
                str(exc) or "A residency rule forbids this write.",
                error_class="residency",
                code=ResidencyRefused.code,
                details=[{"rule_id": exc.rule_id, "destination_location": exc.destination_location}],
                retryable=False,
            ) from exc
        self._residency_allowed.add(endpoint.connector.pk)

    def _fail(self, side: str, record_id: str, exc: RecordFailed) -> None:
        now = timezone.now()
        self.open_failures.add((side, record_id))
        self.counts.failed += 1
        self.counts.error(
            error_class=exc.error_class, message=exc.message, side=side, record_id=record_id, code=exc.code
        )
        link = self._link_for(side, record_id)
        has_partner = link is not None and link.state == LinkState.LINKED
        operation = MovementOperation.UPDATE if has_partner else MovementOperation.CREATE
        with transaction.atomic():
            current = (
                FailedRecord.objects.select_for_update()
                .filter(workflow=self.workflow, side=side, record_id=record_id, status=FailedRecordStatus.OPEN)
                .first()
            )
            values = {
                "operation": operation,
                "error_class": exc.error_class[:60],
                "error_code": exc.code[:60],
                "reason": exc.message,
                "details": exc.details[:50],
                "retryable": exc.retryable,
                "last_failed_at": now,
                "last_run": self.run,
            }
            if current is None:
                FailedRecord.objects.create(
                    organization_id=self.workflow.organization_id,
                    workflow=self.workflow,
                    side=side,
                    record_id=record_id,
                    first_failed_at=now,
                    **values,
                )
            else:
                for key, value in values.items():
                    setattr(current, key, value)
                current.attempts += 1
                current.save()

    def _resolve_failed(self, side: str, record_id: str) -> None:
        if (side, record_id) not in self.open_failures:
            return
        self.open_failures.discard((side, record_id))
        FailedRecord.objects.filter(
            workflow=self.workflow, side=side, record_id=record_id, status=FailedRecordStatus.OPEN
        ).update(status=FailedRecordStatus.RESOLVED, resolved_at=timezone.now(), updated_at=timezone.now())

    # -- Calls, retries and progress -------------------------------------------------------------------------

    def call(
        self,
        endpoint: Endpoint,
        work: Callable[[], T],
        retry_on: tuple[type[ConnectorError], ...] = (ConnectorError,),
    ) -> T:
        """Call a provider; transient errors the transport gave up on are retried under the connector's policy."""
        policy = endpoint.retry
        attempt = 1
        while True:
            try:
                return work()
            except ConnectorError as exc:
                if not exc.retryable or not isinstance(exc, retry_on) or attempt >= policy.max_attempts:
                    raise
                wait = policy.delay(attempt, getattr(exc, "retry_after", None))
                wait = min(wait, policy.max_retry_after)
                logger.info(
                    "Workflow %s: %s on the %s side, retrying in %.2f s (attempt %d of %d).",
                    self.workflow.pk,
                    type(exc).__name__,
                    endpoint.side,
                    wait,
                    attempt + 1,
                    policy.max_attempts,
                )
                self.heartbeat(force=True)
                time.sleep(wait)
                attempt += 1

    def heartbeat(self, *, force: bool = False) -> None:
        """Publish progress and renew the lease, at most about once a second."""
        now = time.monotonic()
        if not force and now - self._last_flush < PROGRESS_EVERY_SECONDS:
            return
        self._last_flush = now
        if not renew_run_lease(workflow_id=self.workflow.pk, token=self.lease_token):
            raise RunAborted("The run lost its lease; another run has taken over.")
        status = IntegrationWorkflow.objects.filter(pk=self.workflow.pk).values_list("status", flat=True).first()
        if status != WorkflowStatus.ACTIVE:
            raise RunAborted("The workflow was paused.")
        self.flush()

    def flush(self, **extra: Any) -> None:
        counts = self.counts
        values = {
            "records_processed": counts.processed,
            "records_succeeded": counts.succeeded,
            "records_failed": counts.failed,
            "records_unchanged": counts.unchanged,
            "echoes_suppressed": counts.echoes,
            "conflicts_opened": counts.conflicts,
            "stats": counts.stats,
            "errors": counts.errors,
            "error_counts": counts.error_counts,
            "progress_done": counts.processed,
            "progress_estimated": max(counts.estimated, counts.processed),
            "heartbeat_at": timezone.now(),
            **extra,
        }
        SyncRun.objects.filter(pk=self.run.pk).update(**values)
        for key, value in values.items():
            setattr(self.run, key, value)

    def finish(self, *, status: str, detail: str = "") -> SyncRun:
        completed = timezone.now()
        duration = int((completed - self.run.started_at).total_seconds() * 1000)
        self.flush(status=status, detail=detail, completed_at=completed, duration_ms=duration)
        return self.run
