"""Both sides edited the same field since the last sync: each policy, and an operator deciding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.timestamps import iso_utc
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.sync import services
from apps.sync.merge import ConflictPolicy
from apps.sync.models import Conflict as SyncConflict
from apps.sync.models import ConflictChoice, ConflictStatus, DataMovement, Direction, RunOperation
from tests.sync.conftest import writes

pytestmark = pytest.mark.django_db


def edit(sandbox, number, *, seconds_from_now: int, **changes):
    """Change an issue at a chosen moment on the vendor's clock (ahead of now: the feed must still see it).

    Only for the last edits of a test: a later write stamped with the real clock would fall behind the
    cursor. Elsewhere, `touch_issue` changes an issue at the vendor's real time.
    """
    issue = sandbox.issues[number]
    issue.update(changes)
    issue["updated_at"] = iso_utc(datetime.now(tz=UTC) + timedelta(seconds=seconds_from_now))


@pytest.fixture
def synced_pair(systems, make_workflow, run_sync):
    """A bidirectional workflow whose one issue is in step on both sides; policy chosen per test."""

    def build(policy, **overrides):
        left, right = systems
        issue = left.add_issue("Printer", body="Floor 2")
        workflow = make_workflow(direction=Direction.BIDIRECTIONAL, conflict_policy=policy, **overrides)
        run_sync(workflow)
        [target_number] = right.issues
        return workflow, issue["number"], target_number

    return build


@pytest.mark.parametrize(
    ("policy", "extra", "source_later", "winner"),
    [
        (ConflictPolicy.SOURCE_WINS, {}, False, "source"),
        (ConflictPolicy.TARGET_WINS, {}, True, "target"),
        (ConflictPolicy.LATEST_WINS, {}, True, "source"),
        (ConflictPolicy.LATEST_WINS, {}, False, "target"),
        (ConflictPolicy.FIELD_AUTHORITY, {"field_authority": {"body": "target"}}, True, "target"),
        (ConflictPolicy.FIELD_AUTHORITY, {"field_authority": {"body": "source"}}, False, "source"),
    ],
)
def test_a_both_sides_edit_is_settled_by_the_policy(
    systems, synced_pair, run_sync, policy, extra, source_later, winner
):
    # given
    left, right = systems
    workflow, source_number, target_number = synced_pair(policy, **extra)
    # when both sides change the body, on the vendors' own clocks one after the other
    edit(left, source_number, body="Floor 3 (source)", seconds_from_now=4 if source_later else 2)
    edit(right, target_number, body="Floor 5 (target)", seconds_from_now=2 if source_later else 4)
    run = run_sync(workflow)
    # then both sides hold the winner's value, and nobody was asked
    expected = "Floor 3 (source)" if winner == "source" else "Floor 5 (target)"
    assert left.issues[source_number]["body"] == expected
    assert right.issues[target_number]["body"] == expected
    assert run.conflicts_opened == 0
    assert not SyncConflict.objects.exists()


def test_latest_wins_is_decided_on_the_vendors_clocks_not_on_the_order_we_read_them(systems, synced_pair, run_sync):
    # given the target's edit is older on its own clock, though we read the target feed first
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.LATEST_WINS)
    edit(right, target_number, body="older", seconds_from_now=1)
    edit(left, source_number, body="newer", seconds_from_now=3)
    # when
    run_sync(workflow)
    # then
    assert right.issues[target_number]["body"] == left.issues[source_number]["body"] == "newer"


def test_the_manual_policy_holds_the_field_and_records_both_values(systems, synced_pair, run_sync):
    # given
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    # when both sides change the body, and the source also changes the title
    left.touch_issue(source_number, body="Floor 3", title="Printer (colour)")
    right.touch_issue(target_number, body="Floor 5")
    run = run_sync(workflow)
    # then the title moved, the body waits for a person
    assert right.issues[target_number]["title"] == "Printer (colour)"
    assert (left.issues[source_number]["body"], right.issues[target_number]["body"]) == ("Floor 3", "Floor 5")
    conflict = SyncConflict.objects.get(workflow=workflow)
    assert (conflict.field, conflict.base_value, conflict.source_value, conflict.target_value) == (
        "body",
        "Floor 2",
        "Floor 3",
        "Floor 5",
    )
    assert conflict.status == ConflictStatus.OPEN
    assert run.conflicts_opened == 1
    # and later runs leave the held field alone without opening it twice
    left.log.clear()
    right.log.clear()
    again = run_sync(workflow)
    assert writes(left) == []
    assert writes(right) == []
    assert again.conflicts_opened == 0
    assert SyncConflict.objects.filter(workflow=workflow).count() == 1


@pytest.mark.parametrize(
    ("choice", "value", "expected"),
    [
        (ConflictChoice.SOURCE, None, "Floor 3"),
        (ConflictChoice.TARGET, None, "Floor 5"),
        (ConflictChoice.CUSTOM, "Floor 4", "Floor 4"),
    ],
)
def test_an_operators_choice_is_applied_to_both_systems(
    systems,
    synced_pair,
    run_sync,
    make_member,
    organization,
    django_capture_on_commit_callbacks,
    choice,
    value,
    expected,
):
    # given an open conflict
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    left.touch_issue(source_number, body="Floor 3")
    right.touch_issue(target_number, body="Floor 5")
    run_sync(workflow)
    conflict = SyncConflict.objects.get(workflow=workflow)
    operator = make_member(organization, "operator")
    # when an operator decides
    kwargs = {"value": value} if choice == ConflictChoice.CUSTOM else {}
    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_conflict(conflict=conflict, actor=operator, choice=choice, **kwargs)
    # then the choice is written where it was missing, and recorded as the operator's doing
    assert left.issues[source_number]["body"] == expected
    assert right.issues[target_number]["body"] == expected
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.APPLIED
    assert conflict.resolved_by == operator
    movements = DataMovement.objects.filter(workflow=workflow, origin__conflict=str(conflict.pk))
    assert movements.exists()
    assert {(m.actor_type, m.actor_id) for m in movements} == {("user", str(operator.pk))}
    assert workflow.runs.filter(operation_type=RunOperation.RESOLUTION).count() == 1
    # and the next runs see the pair in step
    left.log.clear()
    right.log.clear()
    run_sync(workflow)
    assert writes(left) == []
    assert writes(right) == []


def test_a_change_made_while_the_conflict_was_open_still_flows_after_the_decision(
    systems, synced_pair, run_sync, owner, django_capture_on_commit_callbacks
):
    # given an open conflict on the body
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    left.touch_issue(source_number, body="Floor 3")
    right.touch_issue(target_number, body="Floor 5")
    run_sync(workflow)
    conflict = SyncConflict.objects.get(workflow=workflow)
    # when the title changes at the source before the operator decides on the body
    left.touch_issue(source_number, title="Printer (renamed)")
    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_conflict(conflict=conflict, actor=owner, choice=ConflictChoice.TARGET)
    run_sync(workflow)
    # then
    assert right.issues[target_number]["title"] == "Printer (renamed)"
    assert left.issues[source_number]["body"] == right.issues[target_number]["body"] == "Floor 5"


def test_a_conflict_whose_sides_agree_again_is_closed_as_superseded(systems, synced_pair, run_sync):
    # given
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    left.touch_issue(source_number, body="Floor 3")
    right.touch_issue(target_number, body="Floor 5")
    run_sync(workflow)
    # when someone fixes it by hand on the target
    right.touch_issue(target_number, body="Floor 3")
    run_sync(workflow)
    # then
    assert SyncConflict.objects.get(workflow=workflow).status == ConflictStatus.SUPERSEDED


def test_a_conflict_is_decided_once(systems, synced_pair, run_sync, owner):
    # given
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    left.touch_issue(source_number, body="Floor 3")
    right.touch_issue(target_number, body="Floor 5")
    run_sync(workflow)
    conflict = SyncConflict.objects.get(workflow=workflow)
    services.resolve_conflict(conflict=conflict, actor=owner, choice=ConflictChoice.SOURCE)
    # when / then
    with pytest.raises(Conflict):
        services.resolve_conflict(conflict=conflict, actor=owner, choice=ConflictChoice.TARGET)


@pytest.mark.parametrize(
    ("choice", "kwargs", "field", "code"),
    [
        ("neither", {}, "choice", "invalid_choice"),
        (ConflictChoice.CUSTOM, {}, "value", "required"),
        (ConflictChoice.SOURCE, {"value": "x"}, "value", "invalid"),
        (ConflictChoice.CUSTOM, {"value": 42}, "value", "schema_violation"),
    ],
)
def test_a_bad_decision_is_refused_with_the_field(systems, synced_pair, run_sync, owner, choice, kwargs, field, code):
    # given
    left, right = systems
    workflow, source_number, target_number = synced_pair(ConflictPolicy.MANUAL)
    left.touch_issue(source_number, body="Floor 3")
    right.touch_issue(target_number, body="Floor 5")
    run_sync(workflow)
    conflict = SyncConflict.objects.get(workflow=workflow)
    # when
    with pytest.raises(BusinessRuleViolation) as excinfo:
        services.resolve_conflict(conflict=conflict, actor=owner, choice=choice, **kwargs)
    # then
    assert (excinfo.value.field, excinfo.value.code) == (field, code)
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN
