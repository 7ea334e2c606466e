"""Failover and failback with a real streaming replica: no committed row is lost, and the timings are recorded.

The deployment under test is `manage.py` in its own processes, pointed at the primary through the endpoint
record (NOFX_DATABASE_ENDPOINT_FILE), exactly as a region's web and worker processes are.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.regions.clusters import PG_BIN, Cluster, primary_and_standby, wait_until_streaming

BASE_DIR = Path(settings.BASE_DIR)
DBNAME = "nofx_failover"


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Writer:
    """Inserts one row per transaction until stopped or the server goes away; remembers every acknowledged id."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acknowledged: list[int] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            with self.cluster.connect(DBNAME) as conn:
                while not self.stopped.is_set():
                    row = conn.execute("INSERT INTO probe (note) VALUES ('written') RETURNING id").fetchone()
                    # autocommit: the INSERT has committed (and, synchronously, reached the standby) once it returns.
                    self.acknowledged.append(row[0])
        except psycopg.Error:
            return


def probe_ids(cluster: Cluster) -> set[int]:
    with cluster.connect(DBNAME) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM probe")}


def query(cluster: Cluster, sql: str) -> list[tuple]:
    with cluster.connect(DBNAME) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.postgres
def test_failover_to_a_streaming_replica_loses_no_committed_row_and_failback_restores_the_layout(tmp_path):
    with primary_and_standby() as (primary, standby):
        # given a region whose deployment reaches its primary through the endpoint record
        with primary.connect() as conn:
            conn.execute(f"CREATE DATABASE {DBNAME}")
        endpoint_file = tmp_path / "database-endpoint.json"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "nofx.settings.test",
            "DATABASE_URL": primary.url(DBNAME),
            "NOFX_DATABASE_ENDPOINT_FILE": str(endpoint_file),
            "NOFX_REGION": "us-east",
            "NOFX_PG_BIN_DIR": str(PG_BIN),
        }
        ok(manage("migrate", "--no-input", env={**env, "NOFX_DATABASE_ENDPOINT_FILE": ""}))
        ok(manage("register_region", "us-east", "--name", "US East", "--public-url", "http://127.0.0.1:8000",
                  "--status", "active", env={**env, "NOFX_DATABASE_ENDPOINT_FILE": ""}))  # fmt: skip
        ok(
            manage(
                "database_endpoints",
                f"--primary=127.0.0.1:{primary.port}/{DBNAME}",
                f"--primary-data-dir={primary.data}",
                f"--standby=127.0.0.1:{standby.port}/{DBNAME}",
                f"--standby-data-dir={standby.data}",
                "--synchronous",
                env=env,
            )
        )
        with primary.connect(DBNAME) as conn:
            conn.execute("CREATE TABLE probe (id bigserial PRIMARY KEY, note text NOT NULL)")

        # when the primary dies in the middle of a stream of commits
        writer = Writer(primary)
        writer.thread.start()
        while len(writer.acknowledged) < 200:
            writer.thread.join(0.01)
        primary.stop("immediate")
        writer.thread.join(10)
        acknowledged_before_failure = set(writer.acknowledged)
        # and the operator fails over
        failover = ok(manage("failover", "us-east", env=env))

        # then the standby is the primary, and holds every row whose commit was acknowledged
        assert not standby.in_recovery()
        assert acknowledged_before_failure <= probe_ids(standby)
        record = json.loads(endpoint_file.read_text())
        assert record["primary"]["port"] == standby.port
        assert record["needs_rebuild"]["port"] == primary.port
        assert record["standby"] is None
        assert record["generation"] == 2
        assert "Promote the standby" in failover
        assert "RTO:" in failover
        [(kind, ok_, rto, rpo, details)] = query(
            standby, "SELECT kind, ok, rto_seconds, rpo_seconds, details FROM regions_drillrecord"
        )
        assert (kind, ok_) == ("failover", True)
        assert 0 < rto < 60
        assert rpo is not None
        assert details["planned"] is False
        assert query(standby, "SELECT status FROM regions_region WHERE code = 'us-east'") == [("degraded",)]

        # and a fresh process of the deployment writes to the new primary without being told
        ok(manage("set_region_status", "us-east", "degraded", "--reason", "written after failover", env=env))
        assert query(standby, "SELECT status_reason FROM regions_region") == [("written after failover",)]
        with standby.connect(DBNAME) as conn:
            after_failover = {
                conn.execute("INSERT INTO probe (note) VALUES ('after failover') RETURNING id").fetchone()[0]
                for _ in range(20)
            }

        # when the operator fails back
        failback = ok(manage("failback", "us-east", env=env, timeout=300))

        # then the original primary serves again, with every row, and the other one streams from it again
        assert "Rebuild the former primary as a standby" in failback
        assert not primary.in_recovery()
        assert standby.in_recovery()
        wait_until_streaming(primary, "nofx_standby")
        assert acknowledged_before_failure | after_failover <= probe_ids(primary)
        record = json.loads(endpoint_file.read_text())
        assert (record["primary"]["port"], record["standby"]["port"], record["needs_rebuild"]) == (
            primary.port,
            standby.port,
            None,
        )
        assert query(primary, "SELECT status FROM regions_region") == [("active",)]
        kinds = query(primary, "SELECT kind, ok, rto_seconds FROM regions_drillrecord ORDER BY started_at")
        assert [(k, o) for k, o, _ in kinds] == [("failover", True), ("failback", True)]
        assert 0 < kinds[1][2] < 60
        # and commits wait for the standby again
        with primary.connect(DBNAME) as conn:
            assert conn.execute("SHOW synchronous_standby_names").fetchone() == ("nofx_standby",)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    # given an endpoint record naming servers that do not even exist
    endpoint_file = tmp_path / "database-endpoint.json"
    record = {
        "region": "us-east",
        "generation": 4,
        "primary": {"host": "127.0.0.1", "port": 1, "dbname": "nofx", "data_directory": "/srv/pg/primary"},
        "standby": {"host": "127.0.0.1", "port": 2, "dbname": "nofx", "data_directory": "/srv/pg/standby"},
        "synchronous": True,
    }
    endpoint_file.write_text(json.dumps(record))
    before = endpoint_file.read_bytes()
    # when
    output = _run("failover", "us-east", "--dry-run", f"--endpoint-file={endpoint_file}")
    # then
    for expected in (
        "[1] Check whether the old primary still answers",
        "pg_ctl stop -w -t 60 -m fast -D /srv/pg/primary",
        "SELECT pg_promote(true, 60)",
        "ALTER SYSTEM SET synchronous_standby_names = ''",
        "Point the deployment at the new primary (endpoint record generation 5)",
        "Dry run: nothing was changed.",
    ):
        assert expected in output
    assert endpoint_file.read_bytes() == before


def test_a_failback_dry_run_prints_the_rebuild_and_the_switch_back(tmp_path):
    endpoint_file = tmp_path / "database-endpoint.json"
    record = {
        "region": "us-east",
        "generation": 5,
        "primary": {"host": "127.0.0.1", "port": 2, "dbname": "nofx", "data_directory": "/srv/pg/standby"},
        "needs_rebuild": {"host": "127.0.0.1", "port": 1, "dbname": "nofx", "data_directory": "/srv/pg/primary"},
        "synchronous": True,
    }
    endpoint_file.write_text(json.dumps(record))

    output = _run("failback", "us-east", "--dry-run", f"--endpoint-file={endpoint_file}")

    for expected in (
        "pg_rewind --target-pgdata /srv/pg/primary",
        "pg_basebackup --pgdata /srv/pg/primary",
        "Promote the former primary",
        "ALTER SYSTEM SET synchronous_standby_names = 'nofx_standby'",
        "Dry run: nothing was changed.",
    ):
        assert expected in output
    assert json.loads(endpoint_file.read_text())["generation"] == 5


def test_failback_without_a_failover_is_refused(tmp_path):
    endpoint_file = tmp_path / "database-endpoint.json"
    endpoint_file.write_text(json.dumps({"region": "us-east", "primary": {"host": "h", "port": 1, "dbname": "d"}}))

    with pytest.raises(CommandError, match="no former primary waiting for failback"):
        _run("failback", "us-east", "--dry-run", f"--endpoint-file={endpoint_file}")


@pytest.mark.parametrize(
    ("region", "content", "message"),
    [
        ("eu-west", {"region": "us-east", "primary": {"host": "h", "port": 1, "dbname": "d"}}, "run the command in"),
        ("us-east", {"region": "eu-west", "primary": {"host": "h", "port": 1, "dbname": "d"}}, "belongs to region"),
        ("us-east", {"region": "us-east", "primary": {"host": "h", "port": 1, "dbname": "d"}}, "has no standby"),
        ("us-east", {"region": "us-east"}, "needs `region` and `primary`"),
        ("us-east", {"region": "us-east", "primary": {"host": "h"}}, "needs host, port and dbname"),
        ("us-east", "not json at all", "Cannot parse"),
    ],
)
def test_failover_refuses_a_record_it_cannot_act_on(tmp_path, region, content, message):
    endpoint_file = tmp_path / "database-endpoint.json"
    endpoint_file.write_text(content if isinstance(content, str) else json.dumps(content))

    with pytest.raises(CommandError, match=message):
        _run("failover", region, "--dry-run", f"--endpoint-file={endpoint_file}")


def test_failover_needs_an_endpoint_record(settings, tmp_path):
    settings.DATABASE_ENDPOINT_FILE = ""
    with pytest.raises(CommandError, match="NOFX_DATABASE_ENDPOINT_FILE is not set"):
        _run("failover", "us-east", "--dry-run")
    with pytest.raises(CommandError, match="Cannot read"):
        _run("failover", "us-east", "--dry-run", f"--endpoint-file={tmp_path / 'missing.json'}")
