"""Three-way merge per field, and each conflict policy."""

import pytest

from apps.sync.merge import ConflictPolicy, plan_merge

FIELDS = ["title", "state", "owner"]
BASE = {"title": "Printer", "state": "open", "owner": "ana"}


def _plan(source_now, target_now, policy=ConflictPolicy.MANUAL, **kwargs):
    return plan_merge(
        fields=FIELDS,
        source_now=source_now,
        source_base=BASE,
        target_now=target_now,
        target_base=BASE,
        policy=policy,
        bidirectional=kwargs.pop("bidirectional", True),
        **kwargs,
    )


def test_a_change_on_one_side_flows_to_the_other():
    plan = _plan({**BASE, "title": "Printer on fire"}, {**BASE, "owner": "bo"})

    assert plan.to_target == {"title": "Printer on fire"}
    assert plan.to_source == {"owner": "bo"}
    assert plan.conflicts == []


def test_both_sides_making_the_same_change_is_not_a_conflict():
    plan = _plan({**BASE, "state": "closed"}, {**BASE, "state": "closed"})

    assert plan.is_noop


def test_a_new_link_copies_everything_from_the_source():
    plan = plan_merge(
        fields=FIELDS,
        source_now=BASE,
        source_base=None,
        target_now={},
        target_base=None,
        policy=ConflictPolicy.MANUAL,
        bidirectional=True,
    )

    assert plan.to_target == BASE


def test_one_way_workflows_do_not_write_back():
    plan = _plan(BASE, {**BASE, "owner": "bo"}, bidirectional=False)

    assert plan.is_noop


@pytest.mark.parametrize(
    ("policy", "extra", "to_target", "to_source"),
    [
        (ConflictPolicy.SOURCE_WINS, {}, {"state": "closed"}, {}),
        (ConflictPolicy.TARGET_WINS, {}, {}, {"state": "pending"}),
        (
            ConflictPolicy.LATEST_WINS,
            {"source_modified_at": "2026-01-01T10:00:00Z", "target_modified_at": "2026-01-01T09:00:00Z"},
            {"state": "closed"},
            {},
        ),
        (
            ConflictPolicy.LATEST_WINS,
            {"source_modified_at": "2026-01-01T10:00:00Z", "target_modified_at": "2026-01-01T11:00:00+01:00"},
            {"state": "closed"},
            {},
        ),
        (
            ConflictPolicy.LATEST_WINS,
            {"source_modified_at": "2026-01-01T10:00:00Z", "target_modified_at": "2026-01-01T10:30:00Z"},
            {},
            {"state": "pending"},
        ),
        (ConflictPolicy.FIELD_AUTHORITY, {"field_authority": {"state": "target"}}, {}, {"state": "pending"}),
    ],
)
def test_each_policy_settles_a_both_sides_edit(policy, extra, to_target, to_source):
    plan = _plan({**BASE, "state": "closed"}, {**BASE, "state": "pending"}, policy=policy, **extra)

    assert (plan.to_target, plan.to_source, plan.conflicts) == (to_target, to_source, [])


def test_manual_policy_records_a_conflict_with_both_values_and_the_base():
    plan = _plan({**BASE, "state": "closed"}, {**BASE, "state": "pending"})

    [conflict] = plan.conflicts
    assert (conflict.field, conflict.base, conflict.source_value, conflict.target_value) == (
        "state",
        "open",
        "closed",
        "pending",
    )


def test_latest_wins_without_timestamps_falls_back_to_a_person():
    plan = _plan({**BASE, "state": "closed"}, {**BASE, "state": "pending"}, policy=ConflictPolicy.LATEST_WINS)

    assert len(plan.conflicts) == 1


def test_a_field_with_no_authority_named_is_a_conflict():
    plan = _plan(
        {**BASE, "state": "closed"},
        {**BASE, "state": "pending"},
        policy=ConflictPolicy.FIELD_AUTHORITY,
        field_authority={"title": "source"},
    )

    assert [c.field for c in plan.conflicts] == ["state"]
