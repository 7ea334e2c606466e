"""Projections, hashes and the plan for one linked pair of records."""

import pytest

from apps.sync.mapping import TransformError
from apps.sync.merge import ConflictPolicy
from apps.sync.pairs import WorkflowMapping, content_hash, plan_pair, project

MAPPING = WorkflowMapping.parse(
    [
        {"source": "title", "target": "short_description", "required": True},
        {"source": "state", "target": "state", "value_map": {"open": "1", "closed": "7"}},
        {"target": "description", "template": "#{number}: {title}", "direction": "to_target"},
        {"source": "external_ref", "target": "number", "direction": "to_source", "reverse_coerce": "string"},
    ]
)
ISSUE = {"number": 7, "title": "Printer", "state": "open", "labels": ["x"], "updated_at": "2026-01-01T00:00:00Z"}
INCIDENT = {"short_description": "Printer", "state": "1", "description": "#7: Printer", "number": 70, "sys_id": "a"}


def test_a_projection_keeps_only_the_mapped_paths_and_explicit_nulls():
    record = {"a": {"b": 1, "c": 2}, "d": None, "e": 5}

    assert project(record, ["a.b", "d", "missing"]) == {"a": {"b": 1}, "d": None}


def test_hashes_ignore_key_order_and_unmapped_fields():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert MAPPING.source_hash(ISSUE) == MAPPING.source_hash({**ISSUE, "labels": ["y"], "updated_at": "later"})
    assert MAPPING.source_hash(ISSUE) != MAPPING.source_hash({**ISSUE, "title": "Scanner"})


def test_the_mapping_knows_which_paths_each_side_uses():
    assert MAPPING.source_paths == ("title", "state", "number", "external_ref")
    assert MAPPING.target_paths == ("short_description", "state", "description", "number")
    assert MAPPING.backward_paths == {"short_description", "state", "number"}


def test_a_change_on_the_source_is_planned_for_the_target_only_on_the_fields_that_moved():
    # given the pair as last synced
    source_base, target_base = MAPPING.source_snapshot(ISSUE), MAPPING.target_snapshot(INCIDENT)
    # when
    plan = plan_pair(
        MAPPING,
        source_now={**ISSUE, "state": "closed"},
        target_now=INCIDENT,
        source_snapshot=source_base,
        target_snapshot=target_base,
        policy=ConflictPolicy.SOURCE_WINS,
        bidirectional=True,
    )
    # then
    assert (plan.to_target, plan.target_fields) == ({"state": "7"}, ["state"])
    assert plan.to_source == {}


def test_a_change_on_the_target_is_carried_back_in_the_sources_own_fields():
    plan = plan_pair(
        MAPPING,
        source_now=ISSUE,
        target_now={**INCIDENT, "short_description": "Printer on fire", "number": 71},
        source_snapshot=MAPPING.source_snapshot(ISSUE),
        target_snapshot=MAPPING.target_snapshot(INCIDENT),
        policy=ConflictPolicy.SOURCE_WINS,
        bidirectional=True,
    )

    assert plan.to_source == {"title": "Printer on fire", "external_ref": "71"}
    assert plan.source_fields == ["external_ref", "title"]
    assert plan.to_target == {}


def test_a_target_change_to_a_one_way_field_is_not_carried_back():
    plan = plan_pair(
        MAPPING,
        source_now=ISSUE,
        target_now={**INCIDENT, "description": "edited by hand"},
        source_snapshot=MAPPING.source_snapshot(ISSUE),
        target_snapshot=MAPPING.target_snapshot(INCIDENT),
        policy=ConflictPolicy.SOURCE_WINS,
        bidirectional=True,
    )

    assert plan.is_noop


def test_held_fields_do_not_move_while_their_conflict_is_open():
    plan = plan_pair(
        MAPPING,
        source_now={**ISSUE, "state": "closed"},
        target_now=INCIDENT,
        source_snapshot=MAPPING.source_snapshot(ISSUE),
        target_snapshot=MAPPING.target_snapshot(INCIDENT),
        policy=ConflictPolicy.SOURCE_WINS,
        bidirectional=True,
        held_fields=["state"],
    )

    assert plan.is_noop


def test_a_both_sides_edit_under_manual_policy_becomes_a_conflict_in_target_terms():
    plan = plan_pair(
        MAPPING,
        source_now={**ISSUE, "state": "closed"},
        target_now={**INCIDENT, "state": "2"},
        source_snapshot=MAPPING.source_snapshot(ISSUE),
        target_snapshot=MAPPING.target_snapshot(INCIDENT),
        policy=ConflictPolicy.MANUAL,
        bidirectional=True,
    )

    [conflict] = plan.conflicts
    assert (conflict.field, conflict.base, conflict.source_value, conflict.target_value) == ("state", "1", "7", "2")


def test_an_unmappable_source_record_is_refused_with_the_field():
    with pytest.raises(TransformError) as excinfo:
        plan_pair(
            MAPPING,
            source_now={**ISSUE, "state": "archived"},
            target_now=INCIDENT,
            source_snapshot=None,
            target_snapshot=None,
            policy=ConflictPolicy.SOURCE_WINS,
            bidirectional=True,
        )

    assert excinfo.value.path == "state"


def test_the_reconciler_test_names_the_fields_that_disagree():
    assert MAPPING.differing_fields({**ISSUE, "external_ref": "70"}, INCIDENT) == []
    assert MAPPING.differing_fields({**ISSUE, "external_ref": "70"}, {**INCIDENT, "state": "7"}) == ["state"]
    assert MAPPING.differing_fields(ISSUE, INCIDENT) == ["number"]


def test_a_field_mapped_both_ways_agrees_when_the_reverse_map_says_so():
    mapping = WorkflowMapping.parse(
        [
            {
                "source": "state",
                "target": "State",
                "value_map": {"open": "Active", "closed": "Closed"},
                "reverse_value_map": {"New": "open", "Active": "open", "Closed": "closed"},
            }
        ]
    )

    assert mapping.differing_fields({"state": "open"}, {"State": "New"}) == []
    assert mapping.differing_fields({"state": "closed"}, {"State": "New"}) == ["State"]
