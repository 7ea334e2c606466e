"""Throwaway PostgreSQL clusters for failover tests: ports 5440-5449, data under a temporary directory.

The tests start and stop them as the `postgres` OS user and remove everything afterwards, also when a test
fails. Nothing here uses the code under test: the clusters are built the way an operator would build them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORTS = range(5440, 5450)
OS_USER = "postgres"


def as_postgres(*args: str, timeout: float = 120) -> str:
    command = [str(a) for a in args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", OS_USER, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr or result.stdout}")
    return result.stdout


def free_ports(count: int) -> list[int]:
    found = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"Fewer than {count} free ports in {PORTS.start}-{PORTS.stop - 1}.")


@dataclass
class Cluster:
    name: str
    data: Path
    port: int

    @property
    def label(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        as_postgres(
            PG_BIN / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.data / "server.log",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        as_postgres(PG_BIN / "pg_ctl", "stop", "-w", "-m", mode, "-D", self.data)

    def is_running(self) -> bool:
        try:
            as_postgres(PG_BIN / "pg_ctl", "status", "-D", self.data)
        except RuntimeError:
            return False
        return True

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def in_recovery(self) -> bool:
        with self.connect() as conn:
            return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])


@contextmanager
def primary_and_standby(*, standby_name: str = "nofx_standby") -> Iterator[tuple[Cluster, Cluster]]:
    """A primary with a synchronous streaming standby (pg_basebackup -R), both torn down afterwards."""
    base = Path(tempfile.mkdtemp(prefix="nofx-failover-"))
    owner = pwd.getpwnam(OS_USER)
    os.chown(base, owner.pw_uid, owner.pw_gid)
    base.chmod(0o755)
    primary_port, standby_port = free_ports(2)
    primary = Cluster("primary", base / "primary", primary_port)
    standby = Cluster("standby", base / "standby", standby_port)
    try:
        as_postgres(PG_BIN / "initdb", "-D", primary.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"unix_socket_directories = '{base}'\n"
                "fsync = off\n"
                "wal_level = replica\n"
                "max_wal_senders = 5\n"
                "wal_keep_size = '128MB'\n"
                # pg_rewind needs it to rebuild a former primary as a standby.
                "wal_log_hints = on\n"
                "hot_standby = on\n"
                f"synchronous_standby_names = '{standby_name}'\n"
                "synchronous_commit = on\n"
                "shared_buffers = '16MB'\n"
            )
        primary.start()
        as_postgres(
            PG_BIN / "pg_basebackup", "--pgdata", standby.data, "--write-recovery-conf", "--wal-method", "stream",
            "--checkpoint", "fast",
            "--dbname", f"host=127.0.0.1 port={primary.port} user=postgres application_name={standby_name}",
        )  # fmt: skip
        standby.start()
        wait_until_streaming(primary, standby_name)
        yield primary, standby
    finally:
        for cluster in (primary, standby):
            if cluster.data.exists() and cluster.is_running():
                cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def wait_until_streaming(primary: Cluster, standby_name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with primary.connect() as conn:
            row = conn.execute(
                "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s", (standby_name,)
            ).fetchone()
        if row == ("streaming", "sync"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{standby_name} never became a streaming synchronous standby of {primary.label}.")
