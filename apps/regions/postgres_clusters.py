"""PostgreSQL's own tools, driven for failover and failback: pg_ctl, pg_rewind, pg_basebackup, pg_promote().

Commands that touch a cluster's files run as the OS user that owns the cluster (`NOFX_PG_OS_USER`, by
default `postgres`); when this process is root it switches with `runuser`. SQL goes over a normal connection
with the deployment's database user, which must be a superuser or have the replication privileges that
`pg_promote()` and `pg_stat_replication` need.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings

from apps.regions.database_endpoints import Endpoint


class ClusterError(Exception):
    """A PostgreSQL tool or query failed; the message says which and why."""


def tool(name: str) -> str:
    bin_dir = settings.REGION_PG_BIN_DIR
    return os.path.join(bin_dir, name) if bin_dir else name


def _as_owner(args: list[str]) -> list[str]:
    owner = settings.REGION_PG_OS_USER
    if not owner or os.geteuid() != 0 or pwd.getpwuid(os.geteuid()).pw_name == owner:
        return args
    runuser = shutil.which("runuser") or "runuser"
    return [runuser, "-u", owner, "--", *args]


def command_line(args: list[str]) -> str:
    """The exact command as an operator would type it (for dry runs and logs)."""
    return shlex.join(_as_owner(args))


def run_tool(args: list[str], *, timeout: float = 120) -> str:
    full = _as_owner(args)
    try:
        result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"{shlex.join(full)} did not run: {exc}") from None
    if result.returncode != 0:
        raise ClusterError(f"{shlex.join(full)} exited {result.returncode}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def credentials() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {"user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or None}


def conninfo(endpoint: Endpoint, *, dbname: str | None = None, application_name: str | None = None) -> str:
    """A libpq connection string for tools (pg_rewind, pg_basebackup, primary_conninfo)."""
    parts = {
        "host": endpoint.host,
        "port": str(endpoint.port),
        "user": credentials()["user"],
        "dbname": dbname or endpoint.dbname,
    }
    if application_name:
        parts["application_name"] = application_name
    return " ".join(f"{key}={value}" for key, value in parts.items())


def connect(endpoint: Endpoint, *, timeout: int = 3) -> psycopg.Connection[Any]:
    creds = credentials()
    try:
        return psycopg.connect(
            host=endpoint.host,
            port=endpoint.port,
            dbname=endpoint.dbname,
            user=creds["user"],
            password=creds["password"],
            connect_timeout=timeout,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise ClusterError(f"{endpoint.label} does not answer: {exc}".strip()) from None


def query_one(endpoint: Endpoint, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with connect(endpoint) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def execute(endpoint: Endpoint, sql: str) -> None:
    with connect(endpoint) as conn:
        conn.execute(sql)


def is_reachable(endpoint: Endpoint) -> bool:
    try:
        query_one(endpoint, "SELECT 1")
    except ClusterError:
        return False
    return True


def in_recovery(endpoint: Endpoint) -> bool:
    return bool(query_one(endpoint, "SELECT pg_is_in_recovery()"))


def current_lsn(endpoint: Endpoint) -> str:
    return str(query_one(endpoint, "SELECT pg_current_wal_lsn()::text"))


@dataclass(frozen=True)
class ReplayState:
    received_lsn: str | None
    replayed_lsn: str | None
    last_replayed_commit_age_seconds: float | None


def replay_state(standby: Endpoint) -> ReplayState:
    with connect(standby) as conn:
        row = conn.execute(
            "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
            " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
        ).fetchone()
    assert row is not None
    return ReplayState(received_lsn=row[0], replayed_lsn=row[1], last_replayed_commit_age_seconds=row[2])


def lsn_reached(endpoint: Endpoint, *, lsn: str) -> bool:
    """Whether a standby has replayed at least up to `lsn`."""
    return bool(query_one(endpoint, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)))


def wait_for_replay(standby: Endpoint, *, lsn: str | None = None, timeout: float = 60) -> ReplayState:
    """Wait until the standby replayed `lsn` (or, without one, everything it has received)."""
    deadline = time.monotonic() + timeout
    while True:
        state = replay_state(standby)
        if lsn is not None:
            done = lsn_reached(standby, lsn=lsn)
        else:
            done = state.received_lsn is None or state.received_lsn == state.replayed_lsn
        if done:
            return state
        if time.monotonic() > deadline:
            raise ClusterError(f"{standby.label} did not replay {lsn or 'what it received'} within {timeout:.0f} s.")
        time.sleep(0.1)


def promote(standby: Endpoint, *, wait_seconds: int = 60) -> None:
    if not query_one(standby, "SELECT pg_promote(true, %s)", (wait_seconds,)):
        raise ClusterError(f"{standby.label} did not finish promotion within {wait_seconds} s.")


def set_synchronous_standby(primary: Endpoint, application_name: str) -> None:
    """Make commits on `primary` wait for the named standby (or for nobody, with an empty name)."""
    with connect(primary) as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                psycopg.sql.Literal(application_name)
            )
        )
        conn.execute("SELECT pg_reload_conf()")


def wait_for_streaming_standby(primary: Endpoint, application_name: str, *, timeout: float = 60) -> str:
    """Wait until a standby with this name streams from `primary` and has replayed its current WAL position."""
    deadline = time.monotonic() + timeout
    target = current_lsn(primary)
    while True:
        with connect(primary) as conn:
            row = conn.execute(
                "SELECT state, replay_lsn >= %s::pg_lsn FROM pg_stat_replication WHERE application_name = %s",
                (target, application_name),
            ).fetchone()
        if row is not None and row[0] == "streaming" and row[1]:
            return target
        if time.monotonic() > deadline:
            raise ClusterError(f"No standby named {application_name} caught up with {primary.label} in time.")
        time.sleep(0.1)


# -- Cluster files (run on the cluster's host) ------------------------------------------------------------------


def _needs_data_directory(endpoint: Endpoint) -> str:
    if not endpoint.data_directory:
        raise ClusterError(f"The endpoint record gives no data_directory for {endpoint.label}; run this on its host.")
    return endpoint.data_directory


def start_args(endpoint: Endpoint) -> list[str]:
    data = endpoint.data_directory or "<data_directory>"
    # The address and port go on the command line: pg_rewind and pg_basebackup copy the other server's
    # configuration files, and with them its port.
    options = f"-p {endpoint.port} -c listen_addresses={endpoint.host}"
    return [tool("pg_ctl"), "start", "-w", "-t", "60", "-D", data, "-l", f"{data}/server.log", "-o", options]


def stop_args(endpoint: Endpoint, *, mode: str = "fast") -> list[str]:
    return [tool("pg_ctl"), "stop", "-w", "-t", "60", "-m", mode, "-D", endpoint.data_directory or "<data_directory>"]


def start(endpoint: Endpoint) -> None:
    _needs_data_directory(endpoint)
    run_tool(start_args(endpoint), timeout=90)


def is_running(endpoint: Endpoint) -> bool:
    data = _needs_data_directory(endpoint)
    try:
        run_tool([tool("pg_ctl"), "status", "-D", data], timeout=30)
    except ClusterError:
        return False
    return True


def stop(endpoint: Endpoint, *, mode: str = "fast") -> bool:
    """Stop the cluster if it runs; True when it was running."""
    if not is_running(endpoint):
        return False
    run_tool(stop_args(endpoint, mode=mode), timeout=90)
    return True


def rewind_args(target: Endpoint, source: Endpoint, application_name: str) -> list[str]:
    return [
        tool("pg_rewind"),
        "--target-pgdata",
        target.data_directory or "<data_directory>",
        "--source-server",
        conninfo(source, dbname="postgres", application_name=application_name),
        "--write-recovery-conf",
    ]


def basebackup_args(target: Endpoint, source: Endpoint, application_name: str) -> list[str]:
    return [
        tool("pg_basebackup"),
        "--pgdata",
        target.data_directory or "<data_directory>",
        "--dbname",
        conninfo(source, dbname="postgres", application_name=application_name),
        "--write-recovery-conf",
        "--wal-method",
        "stream",
        "--checkpoint",
        "fast",
    ]


def rebuild_as_standby(target: Endpoint, *, source: Endpoint, application_name: str, method: str = "auto") -> str:
    """Turn `target`'s data directory into a standby of `source`: pg_rewind, or a fresh base backup.

    Returns the method used. pg_rewind needs wal_log_hints=on (or data checksums) on the target; when it
    cannot rewind, "auto" falls back to a base backup.
    """
    data = _needs_data_directory(target)
    # A freshly promoted server records its new timeline in pg_control only at its next checkpoint; without
    # one, pg_rewind believes both servers are still on the old timeline and rewinds nothing.
    execute(source, "CHECKPOINT")
    if method in ("auto", "rewind"):
        try:
            run_tool(rewind_args(target, source, application_name), timeout=600)
            return "rewind"
        except ClusterError:
            if method == "rewind":
                raise
    _empty_directory(data)
    run_tool(basebackup_args(target, source, application_name), timeout=1800)
    return "basebackup"


def _empty_directory(data: str) -> None:
    # The directory itself stays (its owner and mode are what PostgreSQL checks); its contents go.
    run_tool(["find", data, "-mindepth", "1", "-delete"], timeout=600)
