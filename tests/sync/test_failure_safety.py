"""Safe under failure: lost confirmations, rate-limit storms, a system down, two runs at once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.providers.cursors import MAX_SEEN
from apps.sync import services
from apps.sync.engine import leaf_paths
from apps.sync.leases import acquire_run_lease
from apps.sync.models import (
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    LinkState,
    RecordLink,
    RunStatus,
    SyncRun,
)
from apps.sync.pairs import WorkflowMapping, content_hash
from tests.sync.conftest import circular_feed, titles

pytestmark = pytest.mark.django_db


def reserve_like_a_killed_worker(workflow, source_issue):
    """The state a worker leaves when it dies after reserving a link (and maybe after the create)."""
    mapping = WorkflowMapping.parse(workflow.mappings)
    payload = mapping.forward(source_issue)
    return RecordLink.objects.create(
        organization=workflow.organization,
        workflow=workflow,
        source_id=str(source_issue["number"]),
        state=LinkState.PENDING,
        pending_side="target",
        pending_hash=content_hash(payload),
        target_snapshot=payload,
        source_snapshot=mapping.source_snapshot(source_issue),
    )


def test_a_create_whose_confirmation_was_lost_is_adopted_not_repeated(systems, make_workflow, run_sync):
    # given the worker died after the target accepted the create but before the link was confirmed
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    link = reserve_like_a_killed_worker(workflow, issue)
    orphan = right.add_issue("Printer", body="Floor 2")
    # when the next run comes
    run = run_sync(workflow)
    # then the orphan is linked, and no second copy is made
    assert titles(right) == ["Printer"]
    link.refresh_from_db()
    assert (link.state, link.target_id) == (LinkState.LINKED, str(orphan["number"]))
    assert run.stats["to_target"] == {"adopted": 1}


def test_a_create_cut_short_between_its_calls_is_adopted_and_finished(systems, make_workflow, run_sync):
    # given GitHub opens every new issue, so a closed one takes a create and then a close; the worker died
    # between the two, leaving an open issue that does not match the whole payload
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    left.touch_issue(issue["number"], state="closed")
    workflow = make_workflow()
    reserve_like_a_killed_worker(workflow, left.issues[issue["number"]])
    orphan = right.add_issue("Printer", body="Floor 2")
    # when
    run = run_sync(workflow)
    # then the orphan is adopted on its required field and the missing close is written, once
    assert titles(right) == ["Printer"]
    assert right.issues[orphan["number"]]["state"] == "closed"
    assert run.stats["to_target"] == {"adopted": 1, "update": 1}


def test_a_webhook_run_reads_the_target_feed_before_resending_an_unsettled_create(systems, make_workflow, run_sync):
    # given an interrupted create whose record does exist on the target
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    reserve_like_a_killed_worker(workflow, issue)
    right.add_issue("Printer", body="Floor 2")
    # when a webhook names the source record
    run_sync(workflow, refs=[{"side": "source", "id": str(issue["number"])}])
    # then
    assert titles(right) == ["Printer"]
    assert RecordLink.objects.get(workflow=workflow).state == LinkState.LINKED


def test_a_reserved_create_that_never_left_is_sent_once(systems, make_workflow, run_sync):
    # given the worker died after reserving the link, before the create was sent
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    link = reserve_like_a_killed_worker(workflow, issue)
    # when
    run_sync(workflow)
    run_sync(workflow)
    # then
    assert titles(right) == ["Printer"]
    link.refresh_from_db()
    assert link.state == LinkState.LINKED
    assert RecordLink.objects.filter(workflow=workflow).count() == 1


def test_a_429_storm_slows_the_run_down_without_failing_a_record(systems, make_workflow, run_sync):
    # given a target that answers bursts of 429s and enforces a rate limit
    left, right = systems
    for n in range(12):
        left.add_issue(f"Issue {n}")
    workflow = make_workflow()
    right.limit_rate(4, window=0.25)
    right.fail_next(9, status=429, retry_after=0.05)  # more in a row than the transport retries by itself
    started = time.monotonic()
    # when
    run = run_sync(workflow)
    elapsed = time.monotonic() - started
    # then everything went through, later than it would have
    assert titles(right) == sorted(f"Issue {n}" for n in range(12))
    assert run.status == RunStatus.SUCCEEDED
    assert run.records_failed == 0
    assert not FailedRecord.objects.exists()
    # one feed read and twelve creates were needed; every 429 cost one more call
    assert len(right.log) >= 1 + 12 + 9
    assert elapsed >= 0.45 + 12 / 16 * 0.9  # the injected Retry-After waits plus the enforced rate


def test_a_system_that_stays_down_stops_the_run_and_the_next_run_finishes_the_job(systems, make_workflow, run_sync):
    # given
    left, right = systems
    numbers = [left.add_issue(f"Issue {n}")["number"] for n in range(8)]
    workflow = make_workflow()
    refs = [{"side": "source", "id": str(number)} for number in numbers]
    # when the target answers 503 to five creates in a row
    right.fail_next(5, status=503, retry_after=None)
    run = run_sync(workflow, refs=refs)
    # then the run stopped instead of failing every record; those it touched wait, retryable
    assert run.status == RunStatus.FAILED
    assert "transient" in run.detail
    assert run.error_counts == {"UpstreamUnavailable": 5}
    assert FailedRecord.objects.filter(workflow=workflow, retryable=True).count() == 5
    assert titles(right) == []
    # when the system is back and the schedule runs
    again = run_sync(workflow)
    # then every record is there once
    assert titles(right) == sorted(f"Issue {n}" for n in range(8))
    assert again.status == RunStatus.SUCCEEDED
    assert not FailedRecord.objects.filter(workflow=workflow, status=FailedRecordStatus.OPEN).exists()
    assert RecordLink.objects.filter(workflow=workflow, state=LinkState.LINKED).count() == 8


def test_only_one_run_of_a_workflow_goes_at_a_time(systems, make_workflow):
    # given a run holds the lease
    workflow = make_workflow()
    assert acquire_run_lease(workflow_id=workflow.pk) is not None
    # when / then
    with pytest.raises(services.WorkflowBusy):
        services.run_workflow(workflow_id=workflow.pk, trigger="schedule")
    assert acquire_run_lease(workflow_id=workflow.pk) is None


def test_a_run_whose_worker_died_is_taken_over_once_its_lease_expires(systems, make_workflow, run_sync):
    # given a run that stopped heartbeating (its worker was killed) with its lease left behind
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    dead = SyncRun.objects.create(
        organization=workflow.organization,
        workflow=workflow,
        operation_type="initial",
        trigger="schedule",
        started_at=timezone.now() - timedelta(minutes=5),
    )
    acquire_run_lease(workflow_id=workflow.pk)
    IntegrationWorkflow.objects.filter(pk=workflow.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    # when
    run = run_sync(workflow)
    # then
    dead.refresh_from_db()
    assert dead.status == RunStatus.INTERRUPTED
    assert run.status == RunStatus.SUCCEEDED
    assert titles(right) == ["Printer"]


def test_a_paused_workflow_does_not_run(systems, make_workflow, owner):
    # given
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    services.set_workflow_paused(workflow=workflow, actor=owner, paused=True)
    # when
    result = services.run_workflow(workflow_id=workflow.pk, trigger="schedule")
    # then
    assert result is None
    assert titles(right) == []


def test_leaf_paths_name_every_value_of_a_nested_payload():
    assert leaf_paths({"a": {"b": 1, "c": [1]}, "d": None}) == ["a.b", "a.c", "d"]
    assert leaf_paths({}) == []


def test_a_change_feed_that_goes_round_in_circles_cannot_keep_a_run_going_forever(
    systems, make_workflow, run_sync, monkeypatch
):
    # given a target whose change feed keeps handing back the records it already returned
    _left, right = systems
    right.seed_issues(30, start=timezone.now() - timedelta(minutes=1))
    circular_feed(monkeypatch, right)
    workflow = make_workflow()
    # when
    run = run_sync(workflow)
    # then the run ends, and says why it did not read everything
    assert run.status == RunStatus.PARTIAL
    assert run.error_counts == {"FeedRepeating": 1}
    assert "kept returning records already read" in run.detail


def test_more_records_changed_in_one_second_than_a_cursor_remembers_are_all_synced(systems, make_workflow, run_sync):
    # given more source records sharing one updated_at than the connector's cursor keeps marks of
    left, right = systems
    left.seed_issues(MAX_SEEN + 20, start=timezone.now() - timedelta(minutes=1), step=timedelta(0))
    workflow = make_workflow()
    # when
    run = run_sync(workflow)
    # then every one of them reached the target, once
    assert run.status == RunStatus.SUCCEEDED
    assert len(right.issues) == MAX_SEEN + 20
    assert len(set(titles(right))) == MAX_SEEN + 20
