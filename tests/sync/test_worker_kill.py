"""A worker killed with SIGKILL in the middle of a run, then restarted: nothing duplicated, nothing lost.

This runs a real `celery worker` process against Redis and PostgreSQL. The broker is a private
redis-server on a free port, so nothing else the suite does in the shared Redis database can reach the
queue or the unacknowledged task the test depends on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from apps.sync import services
from apps.sync.models import DataMovement, LinkState, RecordLink, RunStatus

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

RECORDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")


@pytest.fixture
def broker_url() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(lambda: _answers(port), 10, "the private redis-server")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def start_worker(broker_url: str, tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.sync.worker_settings",
        "SYNC_TEST_BROKER_URL": broker_url,
        "SYNC_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "SYNC_TEST_FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "nofx",
                "worker",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
                f"--hostname={name}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_a_worker_killed_mid_run_and_restarted_leaves_no_duplicate_and_no_gap(
    systems, make_workflow, broker_url, start_worker
):
    # given a workflow with enough records that a run takes a few seconds against a rate-limited target
    left, right = systems
    for n in range(RECORDS):
        left.add_issue(f"Issue {n}", body=f"Body {n}")
    right.limit_rate(40, window=1.0)
    workflow = make_workflow()
    worker = start_worker("first")
    Celery(broker=broker_url).send_task(
        "apps.sync.tasks.run_workflow_task", args=[str(workflow.pk)], kwargs={"trigger": "schedule"}
    )
    # when the worker is killed outright while it writes
    _wait_for(lambda: DataMovement.objects.filter(workflow=workflow).count() >= 30, 60, "the run to be under way")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    written_when_killed = len(right.issues)
    assert 0 < written_when_killed < RECORDS
    # and a new worker starts: the broker hands the unacknowledged task out again
    second = start_worker("second")
    _wait_for(
        lambda: (
            RecordLink.objects.filter(workflow=workflow, state=LinkState.LINKED).count() == RECORDS
            and not workflow.runs.filter(status=RunStatus.RUNNING).exists()
        ),
        120,
        "the restarted worker to finish the run",
    )
    # (the short visibility timeout also hands out copies of a task still running; the lease makes them
    # wait their turn, and a warm shutdown lets the last of them finish before we compare)
    second.terminate()
    second.wait(timeout=60)
    # then the reconciler finds both sides in full agreement
    result = services.reconcile_workflow(workflow=workflow)
    report = result.before
    assert report.agreement_percent == 100.0
    assert report.duplicates == []
    assert report.missing == 0
    assert (report.source_records, report.target_records) == (RECORDS, RECORDS)
    assert sorted(issue["title"] for issue in right.issues.values()) == sorted(f"Issue {n}" for n in range(RECORDS))
    statuses = set(workflow.runs.values_list("status", flat=True))
    assert RunStatus.INTERRUPTED in statuses
    assert RunStatus.SUCCEEDED in statuses
