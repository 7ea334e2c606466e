"""Failover to the region's standby and failback to the original primary, step by step and timed.

Failover: check whether the old primary still answers (then it is stopped cleanly first: a planned
switchover loses nothing), wait for the standby to replay all it received, promote it with pg_promote(),
point the deployment at it by rewriting the endpoint record, mark the region degraded and record the timings.

Failback: rebuild the old primary as a standby of the promoted one (pg_rewind, or a fresh base backup), let
it catch up, then switch back the same way a planned switchover does, and rebuild the interim primary as the
standby again. Both print every step; with `dry_run` they print the steps and the exact commands and do
nothing.

RTO is measured from the start (or from `failed_at`, when the operator says when the outage began) to the
first write through the switched deployment. RPO is zero when the old primary's last WAL position was
replayed; after an unplanned loss it is the age of the newest transaction the standby replayed (an upper
bound of what may be missing; with synchronous replication nothing committed is missing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from apps.regions import postgres_clusters as pg
from apps.regions.database_endpoints import Endpoint, EndpointRecord, read_record, write_record
from apps.regions.models import DrillKind, DrillRecord, Region, RegionStatus
from apps.regions.selectors import local_region_code
from apps.regions.services import set_region_status
from apps.security.services import record_audit_event

T = TypeVar("T")


class FailoverError(Exception):
    """Failover or failback cannot go on; the message says at which step and why."""


@dataclass
class Procedure:
    """Numbered, timed steps; in a dry run each step is printed with its commands and not run."""

    write: Callable[[str], None]
    dry_run: bool
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(self, title: str, commands: list[str], action: Callable[[], T]) -> T | None:
        number = len(self.steps) + 1
        self.write(f"[{number}] {title}")
        for command in commands:
            self.write(f"      $ {command}")
        if self.dry_run:
            self.steps.append({"step": number, "title": title, "dry_run": True})
            return None
        started = time.monotonic()
        try:
            result = action()
        except (pg.ClusterError, OSError, DatabaseError) as exc:
            raise FailoverError(f"step {number} ({title}) failed: {exc}") from exc
        seconds = round(time.monotonic() - started, 3)
        self.steps.append({"step": number, "title": title, "seconds": seconds})
        self.write(f"      done in {seconds:.2f} s")
        return result


@dataclass
class Outcome:
    drill: DrillRecord | None
    rto_seconds: float | None
    rpo_seconds: float | None
    steps: list[dict[str, Any]]


def _psql(endpoint: Endpoint, sql: str) -> str:
    return f"psql '{pg.conninfo(endpoint)}' -c {sql!r}"


def _replay_all(standby: Endpoint, *, lsn: str | None) -> pg.ReplayState:
    """Replay up to `lsn` and then whatever else arrived (the shutdown checkpoint follows the last commit)."""
    pg.wait_for_replay(standby, lsn=lsn)
    return pg.wait_for_replay(standby)


def _checked_record(region_code: str, path: str) -> EndpointRecord:
    if not path:
        raise FailoverError("NOFX_DATABASE_ENDPOINT_FILE is not set: this deployment cannot switch databases.")
    if region_code != local_region_code():
        raise FailoverError(
            f"This deployment serves region {local_region_code()}; run the command in region {region_code}'s."
        )
    record = read_record(path)
    if record.region != region_code:
        raise FailoverError(f"The endpoint record {path} belongs to region {record.region}, not {region_code}.")
    return record


def _switch(path: str, record: EndpointRecord) -> None:
    write_record(path, record)
    # Every pooled connection still points at the old server; the next query opens one to the new primary.
    connections.close_all()


def _mirror_on_region(
    *, region_code: str, record: EndpointRecord, status: str, reason: str, failed_over: bool
) -> Region | None:
    """The first write through the switched deployment: the region's status and endpoint mirrors."""
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        return None
    set_region_status(region=region, status=status, reason=reason)
    with transaction.atomic():
        region.primary_database = record.primary.label
        region.standby_database = record.standby.label if record.standby else ""
        region.database_generation = record.generation
        fields = ["primary_database", "standby_database", "database_generation", "updated_at"]
        if failed_over:
            region.last_failover_at = timezone.now()
            fields.append("last_failover_at")
        region.save(update_fields=fields)
    return region


def _record_drill(
    *,
    kind: str,
    region_code: str,
    started_at: datetime,
    rto: float,
    rpo: float | None,
    details: dict[str, Any],
    actor: Any,
) -> DrillRecord:
    with transaction.atomic():
        drill = DrillRecord.objects.create(
            region_code=region_code,
            kind=kind,
            started_at=started_at,
            finished_at=timezone.now(),
            ok=True,
            rpo_seconds=rpo,
            rto_seconds=rto,
            details=details,
        )
        record_audit_event(
            actor=actor,
            action=f"regions.{kind}_completed",
            target=drill,
            data={"region": region_code, "rto_seconds": round(rto, 3), "rpo_seconds": rpo},
        )
    return drill


def fail_over(
    *,
    region_code: str,
    endpoint_file: str,
    write: Callable[[str], None],
    dry_run: bool = False,
    failed_at: datetime | None = None,
    actor: Any = None,
    replay_timeout: float = 60,
) -> Outcome:
    """Promote the region's standby and move the deployment onto it."""
    started_at = timezone.now()
    clock = time.monotonic()
    if failed_at is not None:
        clock -= max(0.0, (started_at - failed_at).total_seconds())
    record = _checked_record(region_code, endpoint_file)
    if record.standby is None:
        raise FailoverError(
            f"Region {region_code} has no standby in {endpoint_file}; restore from backup instead (see the runbook)."
        )
    old, new = record.primary, record.standby
    proc = Procedure(write=write, dry_run=dry_run)
    write(f"Failover of region {region_code}: {old.label} -> {new.label} (generation {record.generation})")

    reachable = proc.step(
        "Check whether the old primary still answers",
        [_psql(old, "SELECT 1")],
        lambda: pg.is_reachable(old),
    )
    final_lsn: str | None = None
    if reachable or dry_run:

        def fence() -> str:
            lsn = pg.current_lsn(old)
            if old.data_directory:
                pg.stop(old, mode="fast")
            else:
                raise pg.ClusterError("the old primary still runs and its data_directory is unknown here")
            return lsn

        final_lsn = proc.step(
            "If it answers: note its WAL position and stop it cleanly, so it takes no more writes and hands the "
            "standby everything",
            [_psql(old, "SELECT pg_current_wal_lsn()"), pg.command_line(pg.stop_args(old))],
            fence,
        )
    replay = proc.step(
        "Wait for the standby to replay all the WAL it received",
        [_psql(new, "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()")],
        lambda: pg.wait_for_replay(new, lsn=final_lsn, timeout=replay_timeout),
    )
    proc.step("Promote the standby", [_psql(new, "SELECT pg_promote(true, 60)")], lambda: pg.promote(new))
    proc.step(
        "Let commits go on without a synchronous standby until failback provides one",
        [_psql(new, "ALTER SYSTEM SET synchronous_standby_names = ''"), _psql(new, "SELECT pg_reload_conf()")],
        lambda: pg.set_synchronous_standby(new, ""),
    )
    switched = record.evolve(primary=new, standby=None, needs_rebuild=old, generation=record.generation + 1)
    proc.step(
        f"Point the deployment at the new primary (endpoint record generation {switched.generation})",
        [f"write {endpoint_file}: primary={new.label} standby=none needs_rebuild={old.label}"],
        lambda: _switch(endpoint_file, switched),
    )
    reason = f"running on the promoted standby {new.label}; no standby until failback"
    proc.step(
        "Mark the region degraded through the new primary (the first write: it ends the RTO)",
        [f"manage.py: region {region_code} status -> degraded"],
        lambda: _mirror_on_region(
            region_code=region_code, record=switched, status=RegionStatus.DEGRADED, reason=reason, failed_over=True
        ),
    )
    if dry_run:
        write("Dry run: nothing was changed.")
        return Outcome(drill=None, rto_seconds=None, rpo_seconds=None, steps=proc.steps)
    rto = time.monotonic() - clock
    rpo = 0.0 if final_lsn is not None else (replay.last_replayed_commit_age_seconds if replay else None)
    drill = _record_drill(
        kind=DrillKind.FAILOVER,
        region_code=region_code,
        started_at=started_at,
        rto=rto,
        rpo=rpo,
        details={
            "planned": final_lsn is not None,
            "old_primary": old.label,
            "new_primary": new.label,
            "old_primary_final_lsn": final_lsn,
            "replayed_lsn": replay.replayed_lsn if replay else None,
            "generation": switched.generation,
            "steps": proc.steps,
        },
        actor=actor,
    )
    return Outcome(drill=drill, rto_seconds=rto, rpo_seconds=rpo, steps=proc.steps)


def fail_back(
    *,
    region_code: str,
    endpoint_file: str,
    write: Callable[[str], None],
    dry_run: bool = False,
    method: str = "auto",
    actor: Any = None,
) -> Outcome:
    """Rebuild the former primary as a standby, switch back to it, and rebuild the interim one as the standby."""
    started_at = timezone.now()
    record = _checked_record(region_code, endpoint_file)
    if record.needs_rebuild is None:
        raise FailoverError(f"Region {region_code} has no former primary waiting for failback in {endpoint_file}.")
    original, interim = record.needs_rebuild, record.primary
    name = record.standby_application_name
    proc = Procedure(write=write, dry_run=dry_run)
    write(f"Failback of region {region_code}: {interim.label} -> {original.label} (generation {record.generation})")

    proc.step(
        "Stop the former primary if it still runs",
        [pg.command_line(pg.stop_args(original))],
        lambda: pg.stop(original),
    )
    used = proc.step(
        f"Rebuild the former primary as a standby of {interim.label} (pg_rewind; a fresh base backup if it cannot)",
        [
            _psql(interim, "CHECKPOINT"),
            pg.command_line(pg.rewind_args(original, interim, name)),
            "if pg_rewind cannot: empty the data directory, then "
            + pg.command_line(pg.basebackup_args(original, interim, name)),
        ],
        lambda: pg.rebuild_as_standby(original, source=interim, application_name=name, method=method),
    )
    proc.step("Start it as a standby", [pg.command_line(pg.start_args(original))], partial(pg.start, original))
    proc.step(
        "Wait until it streams and has caught up",
        [_psql(interim, "SELECT application_name, state, replay_lsn FROM pg_stat_replication")],
        lambda: pg.wait_for_streaming_standby(interim, name),
    )
    with_standby = record.evolve(standby=original, needs_rebuild=None)
    proc.step(
        "Record it as the standby",
        [f"write {endpoint_file}: standby={original.label}"],
        partial(write_record, endpoint_file, with_standby),
    )

    switch_clock = time.monotonic()

    def fence() -> str:
        lsn = pg.current_lsn(interim)
        pg.stop(interim, mode="fast")
        return lsn

    final_lsn = proc.step(
        "Switch back: note the interim primary's WAL position and stop it cleanly (the downtime starts)",
        [_psql(interim, "SELECT pg_current_wal_lsn()"), pg.command_line(pg.stop_args(interim))],
        fence,
    )
    proc.step(
        "Wait for the former primary to replay everything",
        [_psql(original, "SELECT pg_last_wal_replay_lsn()")],
        lambda: _replay_all(original, lsn=final_lsn),
    )
    proc.step(
        "Promote the former primary", [_psql(original, "SELECT pg_promote(true, 60)")], lambda: pg.promote(original)
    )
    proc.step(
        "Let commits go on without a synchronous standby until the interim one is rebuilt",
        [_psql(original, "ALTER SYSTEM SET synchronous_standby_names = ''")],
        lambda: pg.set_synchronous_standby(original, ""),
    )
    switched = with_standby.evolve(
        primary=original, standby=None, needs_rebuild=interim, generation=record.generation + 1
    )
    proc.step(
        f"Point the deployment back at {original.label} (endpoint record generation {switched.generation})",
        [f"write {endpoint_file}: primary={original.label} standby=none needs_rebuild={interim.label}"],
        lambda: _switch(endpoint_file, switched),
    )
    proc.step(
        "Note the switch through the restored primary (the first write: the downtime ends)",
        [f"manage.py: region {region_code} status -> degraded until the standby is back"],
        lambda: _mirror_on_region(
            region_code=region_code,
            record=switched,
            status=RegionStatus.DEGRADED,
            reason="switched back; rebuilding the standby",
            failed_over=False,
        ),
    )
    rto = time.monotonic() - switch_clock

    def rebuild_interim() -> None:
        pg.rebuild_as_standby(interim, source=original, application_name=name, method=method)
        pg.start(interim)
        pg.wait_for_streaming_standby(original, name)

    proc.step(
        f"Rebuild {interim.label} as the standby again",
        [
            _psql(original, "CHECKPOINT"),
            pg.command_line(pg.rewind_args(interim, original, name)),
            pg.command_line(pg.start_args(interim)),
        ],
        rebuild_interim,
    )
    if record.synchronous:
        proc.step(
            "Make commits wait for the standby again (synchronous replication)",
            [_psql(original, f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")],
            lambda: pg.set_synchronous_standby(original, name),
        )
    final = switched.evolve(standby=interim, needs_rebuild=None)

    def restore_layout() -> None:
        write_record(endpoint_file, final)
        _mirror_on_region(
            region_code=region_code, record=final, status=RegionStatus.ACTIVE, reason="", failed_over=False
        )

    proc.step(
        "Record the restored layout and mark the region active",
        [f"write {endpoint_file}: primary={original.label} standby={interim.label}", "region status -> active"],
        restore_layout,
    )
    if dry_run:
        write("Dry run: nothing was changed.")
        return Outcome(drill=None, rto_seconds=None, rpo_seconds=None, steps=proc.steps)
    drill = _record_drill(
        kind=DrillKind.FAILBACK,
        region_code=region_code,
        started_at=started_at,
        rto=rto,
        rpo=0.0,
        details={
            "rebuild_method": used,
            "primary": original.label,
            "standby": interim.label,
            "interim_final_lsn": final_lsn,
            "generation": final.generation,
            "steps": proc.steps,
        },
        actor=actor,
    )
    return Outcome(drill=drill, rto_seconds=rto, rpo_seconds=0.0, steps=proc.steps)


def configure_endpoints(
    *,
    endpoint_file: str,
    region_code: str,
    primary: Endpoint,
    standby: Endpoint | None,
    synchronous: bool,
    actor: Any = None,
) -> EndpointRecord:
    """Write the first endpoint record of a region (or replace it after rebuilding by hand) and mirror it."""
    previous = read_record(endpoint_file) if Path(endpoint_file).exists() else None
    record = EndpointRecord(
        region=region_code,
        primary=primary,
        standby=standby,
        synchronous=synchronous,
        generation=(previous.generation + 1) if previous else 1,
    )
    write_record(endpoint_file, record)
    connections.close_all()
    region = Region.objects.filter(code=region_code).first()
    if region is not None:
        with transaction.atomic():
            region.primary_database = primary.label
            region.standby_database = standby.label if standby else ""
            region.database_generation = record.generation
            region.save(update_fields=["primary_database", "standby_database", "database_generation", "updated_at"])
            record_audit_event(
                actor=actor,
                action="regions.database_endpoints_configured",
                target=region,
                data={"primary": primary.label, "standby": region.standby_database, "generation": record.generation},
            )
    return record
