"""The sync engine against two real GitHub APIs on loopback: creates, updates, deletes, echoes, the trail."""

from __future__ import annotations

import pytest

from apps.security.models import AuditEvent
from apps.sync.models import (
    DataMovement,
    DeletePolicy,
    Direction,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    LinkState,
    RecordLink,
    RunOperation,
    RunStatus,
)
from tests.sync.conftest import titles, writes

pytestmark = pytest.mark.django_db


def test_an_initial_sync_creates_every_source_record_on_the_target(systems, make_workflow, run_sync):
    # given
    left, right = systems
    for n in range(7):
        left.add_issue(f"Printer {n}", body=f"Floor {n}")
    workflow = make_workflow()
    # when
    run = run_sync(workflow)
    # then
    assert titles(right) == titles(left)
    assert run.operation_type == RunOperation.INITIAL
    assert run.status == RunStatus.SUCCEEDED
    assert (run.records_processed, run.records_succeeded, run.records_failed) == (7, 7, 0)
    assert run.stats["to_target"] == {"create": 7}
    assert run.duration_ms is not None
    assert run.progress_done == run.progress_estimated == 7
    links = RecordLink.objects.filter(workflow=workflow)
    assert links.count() == 7
    assert set(links.values_list("state", flat=True)) == {LinkState.LINKED}


def test_every_write_is_an_immutable_trail_entry_linked_to_its_audit_event(systems, make_workflow, run_sync):
    # given
    left, right = systems
    issue = left.add_issue("Printer on fire")
    workflow = make_workflow()
    # when
    run = run_sync(workflow)
    # then
    [movement] = DataMovement.objects.filter(workflow=workflow)
    assert (movement.operation, movement.direction, movement.run_id) == ("create", "to_target", run.pk)
    assert movement.source_record_id == str(issue["number"])
    assert movement.target_record_id == next(iter(right.issues)).__str__()
    assert movement.fields_changed == ["body", "state", "title"]
    assert movement.before_hash == ""
    assert len(movement.after_hash) == 64
    assert movement.origin["connector"] == str(workflow.source_connector_id)
    event = AuditEvent.objects.get(pk=movement.audit_event_id)
    assert event.action == "sync.record_create"
    assert (event.target_type, event.target_id) == ("sync.datamovement", str(movement.pk))
    assert event.data["source_record_id"] == movement.source_record_id
    assert "Printer" not in str(event.data)  # ids and facts only, never record content


def test_a_source_update_reaches_the_target_and_only_what_changed_is_sent(systems, make_workflow, run_sync):
    # given
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow()
    run_sync(workflow)
    right.log.clear()
    # when
    left.touch_issue(issue["number"], body="Floor 3")
    run = run_sync(workflow)
    # then
    [target] = right.issues.values()
    assert target["body"] == "Floor 3"
    [patch] = [call for call in right.log if call.method == "PATCH"]
    assert patch.json() == {"body": "Floor 3"}
    assert run.operation_type == RunOperation.INCREMENTAL
    assert run.stats["to_target"] == {"update": 1}


def test_our_own_writes_coming_back_are_not_echoed(systems, make_workflow, run_sync):
    # given a bidirectional workflow
    left, right = systems
    issue = left.add_issue("Printer")
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL)
    run_sync(workflow)
    [target_number] = right.issues
    # when a change on the target is carried to the source, and the source feed hands our write back
    right.touch_issue(target_number, title="Printer on fire")
    carrying = run_sync(workflow)
    left.log.clear()
    right.log.clear()
    later = [run_sync(workflow) for _ in range(3)]
    # then the write was recognised as ours, and nothing bounces back and forth afterwards
    assert left.issues[issue["number"]]["title"] == "Printer on fire"
    assert carrying.echoes_suppressed == 1
    assert carrying.stats == {"to_source": {"update": 1}}
    assert writes(left) == []
    assert writes(right) == []
    assert [run.records_succeeded for run in later] == [0, 0, 0]


def test_a_target_change_flows_back_in_a_bidirectional_workflow(systems, make_workflow, run_sync):
    # given
    left, right = systems
    issue = left.add_issue("Printer", body="Floor 2")
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL)
    run_sync(workflow)
    [target_number] = right.issues
    # when
    right.touch_issue(target_number, body="Floor 4", state="closed")
    run = run_sync(workflow)
    # then
    assert (left.issues[issue["number"]]["body"], left.issues[issue["number"]]["state"]) == ("Floor 4", "closed")
    assert run.stats["to_source"] == {"update": 1}
    movement = DataMovement.objects.get(workflow=workflow, direction="to_source")
    assert movement.fields_changed == ["body", "state"]


def test_a_record_created_on_the_target_is_created_on_the_source_when_bidirectional(systems, make_workflow, run_sync):
    # given
    left, right = systems
    workflow = make_workflow(direction=Direction.BIDIRECTIONAL)
    run_sync(workflow)
    # when
    right.add_issue("Raised on the other side", body="from B")
    run = run_sync(workflow)
    # then
    assert titles(left) == ["Raised on the other side"]
    assert run.stats["to_source"] == {"create": 1}


def test_a_one_way_workflow_leaves_the_targets_own_records_and_edits_alone(systems, make_workflow, run_sync):
    # given
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    run_sync(workflow)
    [target_number] = right.issues
    # when
    right.add_issue("Only on the target")
    right.touch_issue(target_number, body="edited on the target")
    left.log.clear()
    run_sync(workflow)
    # then
    assert writes(left) == []
    assert titles(left) == ["Printer"]


def test_a_deleted_source_record_tombstones_the_link_and_writes_the_tombstone_values(systems, make_workflow, run_sync):
    # given GitHub issues, which cannot be deleted through the API: the policy closes the partner instead
    left, right = systems
    issue = left.add_issue("Printer")
    workflow = make_workflow(delete_policy=DeletePolicy.TOMBSTONE, tombstone_values={"target": {"state": "closed"}})
    run_sync(workflow)
    link = RecordLink.objects.get(workflow=workflow)
    # when the issue disappears (deleted by an admin) and a webhook names it
    del left.issues[issue["number"]]
    run = run_sync(workflow, refs=[{"side": "source", "id": str(issue["number"]), "deleted": True}])
    # then
    [partner] = right.issues.values()
    assert partner["state"] == "closed"
    link.refresh_from_db()
    assert link.state == LinkState.TOMBSTONED
    assert run.stats["to_target"] == {"tombstone": 1}
    movement = DataMovement.objects.get(workflow=workflow, operation="tombstone")
    assert movement.fields_changed == ["state"]
    assert movement.origin["deleted_side"] == "source"


def test_a_record_that_fails_schema_validation_goes_to_the_failed_list_and_the_run_goes_on(
    systems, make_workflow, run_sync
):
    # given one issue whose title is longer than the target accepts
    left, right = systems
    bad = left.add_issue("x" * 300)
    left.add_issue("Fine")
    workflow = make_workflow()
    # when
    run = run_sync(workflow)
    # then the good record went through, the bad one was never written, not even in part
    assert titles(right) == ["Fine"]
    assert run.status == RunStatus.PARTIAL
    assert (run.records_succeeded, run.records_failed) == (1, 1)
    assert run.error_counts == {"validation": 1}
    assert run.errors[0]["record_id"] == str(bad["number"])
    failed = FailedRecord.objects.get(workflow=workflow)
    assert (failed.side, failed.record_id, failed.error_class, failed.retryable) == (
        "source",
        str(bad["number"]),
        "validation",
        False,
    )
    assert "title" in failed.reason
    assert "too long" in failed.reason
    assert not RecordLink.objects.filter(workflow=workflow, source_id=str(bad["number"])).exists()


def test_a_failed_record_is_resolved_when_it_later_goes_through(systems, make_workflow, run_sync):
    # given
    left, right = systems
    bad = left.add_issue("x" * 300)
    workflow = make_workflow()
    run_sync(workflow)
    # when the title is fixed at the source
    left.touch_issue(bad["number"], title="Fixed")
    run_sync(workflow)
    # then
    assert titles(right) == ["Fixed"]
    assert FailedRecord.objects.get(workflow=workflow).status == FailedRecordStatus.RESOLVED


def test_a_vendor_refusing_a_create_marks_that_record_failed_without_stopping_the_run(systems, make_workflow, run_sync):
    # given
    left, right = systems
    first, second = left.add_issue("One"), left.add_issue("Two")
    workflow = make_workflow()
    # when the target answers the first create with a 422
    right.fail_next(1, status=422, body={"message": "Validation Failed"}, retry_after=None)
    run = run_sync(
        workflow,
        refs=[{"side": "source", "id": str(first["number"])}, {"side": "source", "id": str(second["number"])}],
    )
    # then
    assert titles(right) == ["Two"]
    assert run.records_failed == 1
    failed = FailedRecord.objects.get(workflow=workflow)
    assert (failed.record_id, failed.error_class, failed.retryable) == (str(first["number"]), "InvalidRequest", False)
    # and the refused create is not sent again every run, but when the record changes it goes through once
    right.log.clear()
    run_sync(workflow)
    assert not [call for call in right.log if call.method == "POST"]
    assert FailedRecord.objects.get(workflow=workflow).status == FailedRecordStatus.OPEN
    left.touch_issue(first["number"], body="now complete")
    run_sync(workflow)
    assert titles(right) == ["One", "Two"]
    failed.refresh_from_db()
    assert failed.status == FailedRecordStatus.RESOLVED


def test_the_cursor_moves_on_so_a_second_run_reads_nothing_new(systems, make_workflow, run_sync):
    # given
    left, _right = systems
    for n in range(3):
        left.add_issue(f"Issue {n}")
    workflow = make_workflow()
    run_sync(workflow)
    workflow.refresh_from_db()
    # when
    run = run_sync(workflow)
    # then
    assert workflow.source_cursor
    assert workflow.target_cursor
    assert run.records_succeeded == 0
    assert run.records_processed == run.echoes_suppressed + run.records_unchanged


def test_a_cursor_the_connector_no_longer_accepts_means_a_full_read_without_duplicates(
    systems, make_workflow, run_sync
):
    # given
    left, right = systems
    left.add_issue("Printer")
    workflow = make_workflow()
    run_sync(workflow)
    IntegrationWorkflow.objects.filter(pk=workflow.pk).update(source_cursor="not-a-cursor-of-ours")
    left.add_issue("Scanner")
    # when
    run = run_sync(workflow)
    # then
    assert titles(right) == ["Printer", "Scanner"]
    assert run.status == RunStatus.SUCCEEDED
