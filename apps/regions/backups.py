"""Backups of the region's database, their retention, and restore drills that measure RPO and RTO.

PostgreSQL: one REPEATABLE READ transaction exports its snapshot and counts every table's rows; `pg_dump
--snapshot` then dumps exactly that snapshot, so a restore can be checked against exact counts. The dump is
written in the custom format, then checksummed (SHA-256).

SQLite (the `make run` demo): SQLite's online backup API copies the database file consistently; counts are
taken from the copy.

A restore drill takes the newest good backup, checks its checksum, restores it into a scratch database,
compares the row counts with those recorded at backup time, verifies the audit log's hash chains inside the
restored copy, and records RPO (how old the restored data is when the drill starts) and RTO (from the start of
the drill to a verified restore).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.utils import load_backend
from django.utils import timezone

from apps.regions.models import BackupRecord, BackupStatus, DrillKind, DrillRecord
from apps.regions.selectors import local_region_code
from apps.regions.services import check_in_region
from apps.security.audit_chain import verify_all_chains
from apps.security.services import record_audit_event

SCRATCH_ALIAS = "restore_drill"


class BackupError(Exception):
    """A backup or a restore could not be made; the message says why."""


def backup_root() -> Path:
    return Path(settings.REGION_BACKUP_DIR) / local_region_code()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_tool(name: str) -> str:
    bin_dir = settings.REGION_PG_BIN_DIR
    return os.path.join(bin_dir, name) if bin_dir else name


def _server_params() -> dict[str, Any]:
    """How to reach the region's current primary (through the endpoint record when there is one)."""
    params = connection.get_connection_params()
    return {key: params.get(key) for key in ("dbname", "user", "password", "host", "port")}


def _pg_env(params: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ}
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return env


def _pg_target(params: dict[str, Any]) -> list[str]:
    args = []
    if params.get("host"):
        args += ["--host", str(params["host"])]
    if params.get("port"):
        args += ["--port", str(params["port"])]
    if params.get("user"):
        args += ["--username", str(params["user"])]
    return args


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _django_tables() -> list[str]:
    return sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))


# -- Backups -------------------------------------------------------------------------------------------------------


def create_backup(*, actor: Any = None) -> BackupRecord:
    """Back up this region's database into its backup directory and record it (failures are recorded too)."""
    check_in_region(destination_location=settings.REGION_BACKUP_LOCATION, what="Backups")
    started = timezone.now()
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    method = "pg_dump" if connection.vendor == "postgresql" else "sqlite_copy"
    backup = BackupRecord.objects.create(
        region_code=local_region_code(),
        method=method,
        location=settings.REGION_BACKUP_LOCATION,
        started_at=started,
        status=BackupStatus.RUNNING,
    )
    root = backup_root()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{local_region_code()}-{stamp}.{'dump' if method == 'pg_dump' else 'sqlite3'}"
    target = root / name
    try:
        if method == "pg_dump":
            data_as_of, counts = _dump_postgres(target)
        else:
            data_as_of, counts = _copy_sqlite(target)
        checksum = file_sha256(target)
    except (BackupError, OSError, sqlite3.Error, psycopg.Error) as exc:
        target.unlink(missing_ok=True)
        BackupRecord.objects.filter(pk=backup.pk).update(
            status=BackupStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:4000]
        )
        backup.refresh_from_db()
        record_audit_event(
            actor=actor, action="regions.backup_failed", target=backup, data={"region": backup.region_code}
        )
        return backup
    with transaction.atomic():
        backup.status = BackupStatus.SUCCEEDED
        backup.file_name = name
        backup.size_bytes = target.stat().st_size
        backup.sha256 = checksum
        backup.data_as_of = data_as_of
        backup.row_counts = counts
        backup.finished_at = timezone.now()
        backup.save()
        record_audit_event(
            actor=actor,
            action="regions.backup_created",
            target=backup,
            data={"region": backup.region_code, "sha256": checksum, "size_bytes": backup.size_bytes},
        )
    return backup


def _dump_postgres(target: Path) -> tuple[datetime, dict[str, int]]:
    params = _server_params()
    tables = _django_tables()
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot(), now()").fetchone()
        assert row is not None
        snapshot, as_of = row
        counts: dict[str, int] = {}
        for table in tables:
            counted = conn.execute(f"SELECT count(*) FROM {_quote_ident(table)}").fetchone()  # noqa: S608
            counts[table] = int(counted[0]) if counted else 0
        # The exported snapshot lives as long as this transaction: pg_dump must finish before it ends.
        command = [
            _pg_tool("pg_dump"),
            *_pg_target(params),
            "--format=custom",
            "--no-owner",
            "--no-acl",
            f"--snapshot={snapshot}",
            f"--file={target}",
            str(params["dbname"]),
        ]
        result = subprocess.run(  # noqa: S603
            command, env=_pg_env(params), capture_output=True, text=True, timeout=6 * 3600, check=False
        )
        conn.execute("COMMIT")
    if result.returncode != 0:
        raise BackupError(f"pg_dump exited {result.returncode}: {result.stderr.strip()}")
    return as_of, counts


def _copy_sqlite(target: Path) -> tuple[datetime, dict[str, int]]:
    if connection.in_atomic_block:
        # SQLite's backup API waits for the write lock this very connection holds: it would wait forever.
        raise BackupError("A SQLite backup cannot run inside a transaction.")
    connection.ensure_connection()
    source = connection.connection
    as_of = timezone.now()
    with sqlite3.connect(target) as copy:
        source.backup(copy)
    return as_of, _sqlite_counts(target, _django_tables())


def _sqlite_counts(path: Path, tables: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with sqlite3.connect(path) as db:
        for table in tables:
            counts[table] = int(db.execute(f"SELECT count(*) FROM {_quote_ident(table)}").fetchone()[0])  # noqa: S608
    return counts


def prune_backups(*, keep: int | None = None, actor: Any = None) -> int:
    """Delete the files of all but the newest `keep` good backups; their records stay, marked expired."""
    keep = settings.REGION_BACKUP_KEEP if keep is None else keep
    if keep < 1:
        raise BackupError("Retention must keep at least one backup.")
    good = BackupRecord.objects.filter(region_code=local_region_code(), status=BackupStatus.SUCCEEDED)
    expired = list(good.order_by("-started_at")[keep:])
    for backup in expired:
        (backup_root() / backup.file_name).unlink(missing_ok=True)
        with transaction.atomic():
            backup.status = BackupStatus.EXPIRED
            backup.save(update_fields=["status", "updated_at"])
            record_audit_event(
                actor=actor, action="regions.backup_expired", target=backup, data={"region": backup.region_code}
            )
    return len(expired)


# -- Restore drills --------------------------------------------------------------------------------------------


@dataclass
class DrillOutcome:
    drill: DrillRecord
    problems: list[str]


def newest_backup() -> BackupRecord | None:
    return (
        BackupRecord.objects.filter(region_code=local_region_code(), status=BackupStatus.SUCCEEDED)
        .order_by("-started_at")
        .first()
    )


def run_restore_drill(
    *, write: Callable[[str], None], backup: BackupRecord | None = None, keep_database: bool = False, actor: Any = None
) -> DrillOutcome:
    """Restore a backup (the newest good one by default) into a scratch database, verify it, and record the drill."""
    started_at = timezone.now()
    clock = time.monotonic()
    backup = backup or newest_backup()
    if backup is None:
        raise BackupError(f"Region {local_region_code()} has no successful backup to restore; run `backup_database`.")
    write(f"Restoring backup {backup.pk} taken {backup.started_at:%Y-%m-%d %H:%M:%S %Z} ({backup.method})")
    problems: list[str] = []
    details: dict[str, Any] = {"backup_file": backup.file_name}
    path = backup_root() / backup.file_name
    scratch: str | None = None
    try:
        if not path.exists():
            raise BackupError(f"The backup file {path} is missing.")
        checksum = file_sha256(path)
        if checksum != backup.sha256:
            raise BackupError(f"The backup file's SHA-256 is {checksum}, not the recorded {backup.sha256}.")
        write("  checksum ok")
        if backup.method == "pg_dump":
            scratch = _restore_postgres(path)
            alias_settings = {**connection.settings_dict, "NAME": scratch, "ENGINE": "django.db.backends.postgresql"}
        else:
            scratch = _restore_sqlite(path)
            alias_settings = {**connection.settings_dict, "NAME": scratch}
        # A switchable backend would read the endpoint record: the scratch copy lives on the primary's server.
        if connection.vendor == "postgresql":
            params = _server_params()
            alias_settings.update(HOST=params.get("host") or "", PORT=str(params.get("port") or ""))
        alias_settings["TEST"] = {**alias_settings.get("TEST", {}), "NAME": scratch}
        write(f"  restored into {scratch}")
        # Registered for this thread only (not in settings): the ORM reads the restored copy through it, and
        # nothing else in the process can pick it up by accident.
        connections[SCRATCH_ALIAS] = load_backend(alias_settings["ENGINE"]).DatabaseWrapper(
            alias_settings, alias=SCRATCH_ALIAS
        )
        try:
            problems += _compare_counts(backup.row_counts, details)
            write(f"  row counts: {details['tables_checked']} tables, {len(problems)} mismatches")
            verification = verify_all_chains(using=SCRATCH_ALIAS)
            details["audit_events_checked"] = verification.events
            details["audit_chains_checked"] = verification.chains
            problems += [str(b) for b in verification.breaks]
            write(
                f"  audit chains: {verification.chains} chains, {verification.events} events, "
                f"{'intact' if verification.ok else 'BROKEN'}"
            )
            details["newest_audit_event_at"] = _newest_event(SCRATCH_ALIAS)
        finally:
            connections[SCRATCH_ALIAS].close()
            del connections[SCRATCH_ALIAS]
    except BackupError as exc:
        problems.append(str(exc))
    rto = time.monotonic() - clock
    as_of = backup.data_as_of or backup.started_at
    rpo = max(0.0, (started_at - as_of).total_seconds())
    if scratch is not None and not keep_database:
        _drop_scratch(scratch, backup.method)
        details["scratch_database"] = "dropped"
    elif scratch is not None:
        details["scratch_database"] = scratch
    details["problems"] = problems
    with transaction.atomic():
        drill = DrillRecord.objects.create(
            region_code=local_region_code(),
            kind=DrillKind.RESTORE,
            backup=backup,
            started_at=started_at,
            finished_at=timezone.now(),
            ok=not problems,
            rpo_seconds=rpo,
            rto_seconds=rto,
            details=details,
        )
        record_audit_event(
            actor=actor,
            action="regions.restore_drill_completed" if not problems else "regions.restore_drill_failed",
            target=drill,
            data={"backup_id": str(backup.pk), "rpo_seconds": round(rpo, 3), "rto_seconds": round(rto, 3)},
        )
    return DrillOutcome(drill=drill, problems=problems)


def _compare_counts(expected: dict[str, int], details: dict[str, Any]) -> list[str]:
    problems = []
    scratch = connections[SCRATCH_ALIAS]
    with scratch.cursor() as cursor:
        for table, count in sorted(expected.items()):
            cursor.execute(f"SELECT count(*) FROM {_quote_ident(table)}")  # noqa: S608
            restored = int(cursor.fetchone()[0])
            if restored != count:
                problems.append(f"{table}: {restored} rows restored, {count} backed up")
    details["tables_checked"] = len(expected)
    return problems


def _newest_event(alias: str) -> str | None:
    from apps.security.models import AuditEvent

    newest = AuditEvent.objects.using(alias).order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    return newest.isoformat() if newest else None


def _restore_postgres(path: Path) -> str:
    params = _server_params()
    name = f"{str(params['dbname'])[:30]}_drill_{uuid.uuid4().hex[:8]}"
    admin = {k: v for k, v in params.items() if v is not None and k != "dbname"}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    command = [
        _pg_tool("pg_restore"),
        *_pg_target(params),
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        f"--dbname={name}",
        str(path),
    ]
    result = subprocess.run(  # noqa: S603
        command, env=_pg_env(params), capture_output=True, text=True, timeout=6 * 3600, check=False
    )
    if result.returncode != 0:
        _drop_scratch(name, "pg_dump")
        raise BackupError(f"pg_restore exited {result.returncode}: {result.stderr.strip()}")
    return name


def _restore_sqlite(path: Path) -> str:
    scratch = path.with_name(f"drill-{uuid.uuid4().hex[:8]}.sqlite3")
    shutil.copyfile(path, scratch)
    return str(scratch)


def _drop_scratch(name: str, method: str) -> None:
    if method != "pg_dump":
        Path(name).unlink(missing_ok=True)
        return
    params = _server_params()
    admin = {k: v for k, v in params.items() if v is not None and k != "dbname"}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
