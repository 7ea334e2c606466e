"""Benchmark of the sync engine against vendor sandboxes on loopback, in one run.

1. Throughput per worker process: a 10,000-record initial sync (GitHub issues -> GitHub issues, two
   sandboxes) and then a 1,000-change incremental sync, each against a baseline measured in the same run:
   the same records copied straight through the providers (read, then create or get + update) with no
   engine around them. Between the two, one pass reads back the initial sync's own writes (echoes).
2. The reconciler's agreement after those runs (target 100%, never below 99.9%).
3. 1,000 workflows scheduled by beat (django-celery-beat, all due at the same moment) and run by a pool of
   worker processes (Slack channel -> Slack channel, one message each): runs lost, messages duplicated,
   and the scheduling lag (run started - run due) p50/p95/max. Needs PostgreSQL (DATABASE_URL) and Redis
   (REDIS_URL); without them this part says so and is left out.

The database is a throwaway test database (created and dropped here), never the one DATABASE_URL names.
Run with `make bench-sync`; `--records`, `--changes`, `--workflows` and `--concurrency` scale it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402

from apps.accounts import services as account_services  # noqa: E402
from apps.accounts.models import Organization, User  # noqa: E402
from apps.connectors import services as connector_services  # noqa: E402
from apps.connectors.connections import provider_for  # noqa: E402
from apps.connectors.models import Connector  # noqa: E402
from apps.connectors.sandboxes.github import GitHubSandbox  # noqa: E402
from apps.connectors.sandboxes.server import Sandbox  # noqa: E402
from apps.connectors.sandboxes.slack import SlackSandbox  # noqa: E402
from apps.connectors.timestamps import iso_utc  # noqa: E402
from apps.sync import services  # noqa: E402
from apps.sync.models import IntegrationWorkflow, RecordLink, RunStatus, SyncRun  # noqa: E402
from apps.sync.schedules import RUN_TASK  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
# The sandboxes listen on loopback, which the platform refuses by default.
settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
ISSUE_MAPPING = [
    {"source": "title", "target": "title", "required": True},
    {"source": "body", "target": "body"},
    {"source": "state", "target": "state"},
]
MESSAGE_MAPPING = [{"source": "text", "target": "text", "required": True}]
FAST_RETRY = {"max_attempts": 5, "base_delay": 0.05, "max_delay": 1.0, "max_retry_after": 10.0}


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def tenant(slug: str) -> tuple[Organization, User]:
    owner = User.objects.create_user(f"bench-{slug}@example.com", None)
    organization = account_services.create_organization(
        name=f"Bench {slug}", owner=owner, home_region_code="us-east", slug=slug
    )
    return organization, owner


def connect(organization: Organization, sandbox: Sandbox, name: str, **settings_: Any) -> Connector:
    config = sandbox.demo_connection()
    return connector_services.create_connector(
        organization=organization,
        actor=None,
        name=name,
        provider=config["provider"],
        base_url=sandbox.url,
        settings_={**config["settings"], **settings_},
        credentials=config["credentials"],
        retry_policy=FAST_RETRY,
    )


# -- 1 and 2: throughput and agreement -------------------------------------------------------------------


def copy_directly(source: Connector, target: Connector) -> int:
    """The baseline: every source issue read through its provider and created on the target, nothing else."""
    copied = 0
    with provider_for(source) as reader, provider_for(target) as writer:
        cursor: str | None = None
        while True:
            page = reader.read_changes("issue", cursor)
            for record in page.records:
                writer.create("issue", {k: record.data[k] for k in ("title", "body", "state")})
                copied += 1
            cursor = page.next_cursor
            if not page.has_more:
                return copied


def update_directly(source: Connector, target: Connector, pairs: list[tuple[str, str]]) -> None:
    """The baseline for changes: get the source issue, update its partner, nothing else."""
    with provider_for(source) as reader, provider_for(target) as writer:
        for source_id, target_id in pairs:
            record = reader.get("issue", source_id)
            writer.update("issue", target_id, {"body": record.data["body"]})


def throughput(records: int, changes: int) -> None:
    organization, owner = tenant("bench-throughput")
    left, right, spare = GitHubSandbox().start(), GitHubSandbox().start(), GitHubSandbox().start()
    try:
        left.seed_issues(records, start=datetime.now(tz=UTC) - timedelta(seconds=records + 60))
        source = connect(organization, left, "Source GitHub")
        target = connect(organization, right, "Target GitHub")
        baseline_target = connect(organization, spare, "Baseline GitHub")
        workflow = services.create_workflow(
            organization=organization,
            actor=owner,
            name="Bench issues",
            source_connector=source,
            source_object_type="issue",
            target_connector=target,
            target_object_type="issue",
            mappings=ISSUE_MAPPING,
        )

        started = time.perf_counter()
        initial = services.run_workflow(workflow_id=workflow.pk, trigger="manual")
        engine_initial = time.perf_counter() - started
        assert initial is not None
        started = time.perf_counter()
        copied = copy_directly(source, baseline_target)
        direct_initial = time.perf_counter() - started

        started = time.perf_counter()
        echo = services.run_workflow(workflow_id=workflow.pk, trigger="manual")
        echo_seconds = time.perf_counter() - started
        assert echo is not None

        changed = random.Random(7).sample(sorted(left.issues), changes)
        # Each edit at its own second on GitHub's clock, as edits made by people arrive (the connectors'
        # watermark cursor tells apart at most 500 records changed within the same second).
        moment = datetime.now(tz=UTC)
        for offset, number in enumerate(changed, start=1):
            issue = left.touch_issue(number, body=f"Changed in the benchmark ({number})")
            issue["updated_at"] = iso_utc(moment + timedelta(seconds=offset))
        started = time.perf_counter()
        incremental = services.run_workflow(workflow_id=workflow.pk, trigger="manual")
        engine_incremental = time.perf_counter() - started
        assert incremental is not None

        partner = dict(RecordLink.objects.filter(workflow=workflow).values_list("source_id", "target_id"))
        for offset, number in enumerate(changed, start=changes + 1):
            issue = left.touch_issue(number, body=f"Changed again in the benchmark ({number})")
            issue["updated_at"] = iso_utc(moment + timedelta(seconds=offset))
        started = time.perf_counter()
        update_directly(source, target, [(str(n), partner[str(n)]) for n in changed])
        direct_incremental = time.perf_counter() - started

        report = services.reconcile_workflow(workflow=workflow).before
    finally:
        for sandbox in (left, right, spare):
            sandbox.stop()

    engine_rate, direct_rate = rate(initial.records_succeeded, engine_initial), rate(copied, direct_initial)
    say(
        f"initial sync, {records:,} records: engine {engine_rate:,.0f} records/s ({engine_initial:.1f} s, "
        f"{initial.records_succeeded:,} written, {initial.records_failed} failed); "
        f"direct provider copy {direct_rate:,.0f} records/s -> engine at {100 * engine_rate / direct_rate:.0f}%"
    )
    say(
        f"echo pass after it: {echo.echoes_suppressed:,} of our own writes recognised in {echo_seconds:.1f} s "
        f"({rate(echo.echoes_suppressed, echo_seconds):,.0f}/s), {echo.records_succeeded} written"
    )
    inc_rate, direct_inc_rate = (
        rate(incremental.records_succeeded, engine_incremental),
        rate(changes, direct_incremental),
    )
    say(
        f"incremental sync, {changes:,} changes: engine {inc_rate:,.0f} records/s ({engine_incremental:.1f} s, "
        f"{incremental.records_succeeded:,} written, {incremental.echoes_suppressed:,} echoes skipped); "
        f"direct get + update {direct_inc_rate:,.0f} records/s -> engine at {100 * inc_rate / direct_inc_rate:.0f}%"
    )
    verdict = "OK" if report.agreement_percent >= 99.9 else "BELOW THE 99.9% FLOOR"
    say(
        f"reconciler: agreement {report.agreement_percent}% of {report.expected:,} records "
        f"({len(report.differing)} differing, {report.missing} missing, {len(report.duplicates)} duplicates) "
        f"-- target 100%, floor 99.9%: {verdict}"
    )


# -- 3: many workflows through beat and a worker pool ----------------------------------------------------


def pool(workflows: int, concurrency: int, timeout: float) -> None:
    on_postgres = connection.vendor == "postgresql"
    if not on_postgres or not settings.REDIS_URL:
        say(
            f"scheduled workflows: left out -- beat and a worker pool need PostgreSQL and Redis "
            f"(set DATABASE_URL and REDIS_URL); this run has {connection.vendor}"
            f"{' and Redis' if settings.REDIS_URL else ' and no Redis'}."
        )
        return
    organization, owner = tenant("bench-pool")
    left, right = SlackSandbox().start(), SlackSandbox().start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ids: list[Any] = []
        for n in range(workflows):
            channel = f"CB{n:08d}"
            left.add_channel(channel, f"bench-{n}")
            right.add_channel(channel, f"bench-{n}")
            left.post(f"Message {n}", channel=channel)
            workflow = services.create_workflow(
                organization=organization,
                actor=owner,
                name=f"Bench channel {n}",
                source_connector=connect(organization, left, f"Slack source {n}", channel=channel),
                source_object_type="message",
                target_connector=connect(organization, right, f"Slack target {n}", channel=channel),
                target_object_type="message",
                mappings=MESSAGE_MAPPING,
                interval_seconds=3600,
            )
            ids.append(workflow.pk)
        due = datetime.now(tz=UTC) + timedelta(seconds=20)
        PeriodicTask.objects.filter(task=RUN_TASK, name__startswith="sync-workflow-").update(start_time=due)
        processes = start_pool(concurrency)
        deadline = time.monotonic() + timeout
        finished = 0
        while time.monotonic() < deadline:
            finished = SyncRun.objects.filter(workflow_id__in=ids).exclude(status=RunStatus.RUNNING).count()
            if finished >= workflows:
                break
            time.sleep(1)
        first_runs: dict[Any, datetime] = {}
        for workflow_id, started_at in SyncRun.objects.filter(workflow_id__in=ids).values_list(
            "workflow_id", "started_at"
        ):
            first_runs[workflow_id] = min(started_at, first_runs.get(workflow_id, started_at))
        lags = sorted((started - due).total_seconds() for started in first_runs.values())
        succeeded = (
            SyncRun.objects.filter(workflow_id__in=ids, status=RunStatus.SUCCEEDED).values("workflow").distinct()
        )
        delivered = [len(right.messages[f"CB{n:08d}"]) for n in range(workflows)]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        left.stop()
        right.stop()
        IntegrationWorkflow.objects.filter(organization=organization).update(status="paused")

    lost = workflows - len(first_runs)
    missing = sum(1 for count in delivered if count == 0)
    duplicated = sum(1 for count in delivered if count > 1)
    span = lags[-1] if lags else float("nan")
    say(
        f"scheduled workflows: {workflows:,} due at one moment, run by beat and {concurrency} worker processes: "
        f"{len(first_runs):,} ran ({succeeded.count():,} succeeded), {lost} lost; "
        f"{missing} messages missing, {duplicated} duplicated"
    )
    if lags:
        p95 = lags[max(int(0.95 * len(lags)) - 1, 0)]
        say(
            f"scheduling lag (run started - run due): p50 {statistics.median(lags):.2f} s, p95 {p95:.2f} s, "
            f"max {span:.2f} s; {rate(len(lags), span):,.1f} runs/s through the pool"
        )


def start_pool(concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.sync.worker_settings",
        "SYNC_TEST_BROKER_URL": settings.REDIS_URL,
        "SYNC_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "SYNC_TEST_FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "SYNC_TEST_VISIBILITY_TIMEOUT": "300",
        "SYNC_RUN_LEASE_SECONDS": "60",
        "CONNECTOR_HEALTH_INTERVAL": "86400",
    }
    celery = [sys.executable, "-m", "celery", "-A", "nofx"]
    logs = BASE_DIR / "var"
    logs.mkdir(exist_ok=True)
    worker = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [
            *celery,
            "worker",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            "--hostname=bench@%h",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=(logs / "bench-sync-worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [
            *celery,
            "beat",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--max-interval=1",
            "--loglevel=WARNING",
            f"--schedule={logs / 'bench-sync-beat'}",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=(logs / "bench-sync-beat.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return [worker, beat]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--workflows", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=4, help="Worker processes in the pool.")
    parser.add_argument("--pool-timeout", type=float, default=600.0)
    args = parser.parse_args()

    real_name = connection.settings_dict["NAME"]
    # Tables straight from the models, as the test suite makes them: the schema is what is measured against.
    connection.settings_dict.setdefault("TEST", {})["MIGRATE"] = False
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    say(
        f"Sync engine benchmark -- database {connection.vendor} ({test_name}), "
        f"Redis {'yes' if settings.REDIS_URL else 'no'}, one worker process unless said otherwise"
    )
    try:
        throughput(args.records, args.changes)
        pool(args.workflows, args.concurrency, args.pool_timeout)
    finally:
        connection.creation.destroy_test_db(real_name, verbosity=0)


if __name__ == "__main__":
    main()
