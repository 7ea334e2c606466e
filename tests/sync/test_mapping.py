"""Field mappings carry values both ways, transformed and checked."""

import pytest

from apps.sync.mapping import MappingError, TransformError, apply_mappings, parse_mappings
from apps.sync.paths import MISSING, PathError, get_path, parse_path, set_path

JIRA_TO_SNOW = [
    {"source": "fields.summary", "target": "short_description", "required": True},
    {
        "source": "fields.status.name",
        "target": "state",
        "value_map": {"To Do": "1", "In Progress": "2", "Done": "7"},
    },
    {"source": "fields.priority.id", "target": "urgency", "coerce": "integer", "reverse_coerce": "string"},
    {"target": "description", "template": "{key}: {fields.summary}", "direction": "to_target"},
    {"source": "fields.labels[0]", "target": "category", "default": "inquiry", "direction": "to_target"},
]

ISSUE = {
    "key": "OPS-7",
    "fields": {"summary": "Printer on fire", "status": {"name": "In Progress"}, "priority": {"id": "2"}, "labels": []},
}


def test_paths_read_nested_keys_and_list_items():
    record = {"a": {"b": [{"c": 1}]}}

    assert parse_path("a.b[0].c") == ("a", "b", 0, "c")
    assert get_path(record, "a.b[0].c") == 1
    assert get_path(record, "a.b[3].c") is MISSING
    assert get_path(record, "a.x") is MISSING


def test_writing_a_path_creates_what_is_missing_on_the_way():
    record: dict = {}

    set_path(record, "fields.labels[1]", "urgent")

    assert record == {"fields": {"labels": [None, "urgent"]}}


@pytest.mark.parametrize("bad", ["", "a..b", "a.", "a[x]", " a", "a[1"])
def test_malformed_paths_are_refused(bad):
    with pytest.raises(PathError):
        parse_path(bad)


def test_a_record_is_mapped_to_the_target_with_every_transform():
    rules = parse_mappings(JIRA_TO_SNOW)

    mapped = apply_mappings(rules, ISSUE, "to_target")

    assert mapped == {
        "short_description": "Printer on fire",
        "state": "2",
        "urgency": 2,
        "description": "OPS-7: Printer on fire",
        "category": "inquiry",
    }


def test_a_record_is_mapped_back_to_the_source_with_the_inverted_value_map():
    rules = parse_mappings(JIRA_TO_SNOW)

    back = apply_mappings(rules, {"short_description": "Fixed", "state": "7", "urgency": 1}, "to_source")

    assert back == {"fields": {"summary": "Fixed", "status": {"name": "Done"}, "priority": {"id": "1"}}}


def test_a_value_missing_from_the_value_map_is_refused_with_the_field():
    rules = parse_mappings(JIRA_TO_SNOW)
    issue = {**ISSUE, "fields": {**ISSUE["fields"], "status": {"name": "Blocked"}}}

    with pytest.raises(TransformError) as excinfo:
        apply_mappings(rules, issue, "to_target")

    assert (excinfo.value.path, excinfo.value.code) == ("state", "unmapped_value")


def test_a_wildcard_entry_catches_unmapped_values_going_to_the_target():
    rules = parse_mappings(
        [{"source": "s", "target": "t", "value_map": {"a": "A", "*": "OTHER"}, "direction": "to_target"}]
    )

    assert apply_mappings(rules, {"s": "zzz"}, "to_target") == {"t": "OTHER"}


def test_a_missing_required_field_is_refused():
    rules = parse_mappings(JIRA_TO_SNOW)

    with pytest.raises(TransformError) as excinfo:
        apply_mappings(rules, {"key": "OPS-8", "fields": {"status": {"name": "Done"}}}, "to_target")

    assert excinfo.value.code == "required"
    assert excinfo.value.path == "short_description"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", "42", 42),
        ("integer", 3.0, 3),
        ("number", "2.5", 2.5),
        ("boolean", "yes", True),
        ("boolean", 0, False),
        ("string", 12, "12"),
        ("datetime", "2026-01-02T03:04:05+02:00", "2026-01-02T01:04:05Z"),
        ("date", "2026-01-02T23:00:00Z", "2026-01-02"),
    ],
)
def test_coercions_convert_what_systems_send(kind, value, expected):
    rules = parse_mappings([{"source": "v", "target": "v", "coerce": kind}])

    assert apply_mappings(rules, {"v": value}, "to_target") == {"v": expected}


@pytest.mark.parametrize(
    ("kind", "value"), [("integer", "4.5"), ("integer", "four"), ("boolean", "maybe"), ("datetime", "soon")]
)
def test_values_that_cannot_be_coerced_are_refused(kind, value):
    rules = parse_mappings([{"source": "v", "target": "v", "coerce": kind}])

    with pytest.raises(TransformError) as excinfo:
        apply_mappings(rules, {"v": value}, "to_target")

    assert excinfo.value.path == "v"


def test_every_problem_in_a_mapping_is_reported_at_once():
    raw = [
        {"source": "a", "target": "b", "direction": "sideways"},
        {"target": "c"},
        {"source": "x", "target": "y", "template": "{x}"},
        {"source": "s", "target": "t", "value_map": {"a": "same", "b": "same"}},
        {"source": "p", "target": "q", "coerce": "money", "surprise": 1},
        {"target": "d", "template": "{x}"},
    ]

    with pytest.raises(MappingError) as excinfo:
        parse_mappings(raw)

    codes = {(e.field, e.code) for e in excinfo.value.errors}
    assert codes == {
        ("mappings[0].direction", "invalid_choice"),
        ("mappings[1]", "source_or_template"),
        ("mappings[2]", "source_or_template"),
        ("mappings[2].template", "one_way_only"),
        ("mappings[3].value_map", "not_reversible"),
        ("mappings[4].coerce", "invalid_choice"),
        ("mappings[4]", "unknown_key"),
        ("mappings[5].template", "one_way_only"),
    }


def test_two_rules_writing_the_same_field_are_refused():
    with pytest.raises(MappingError) as excinfo:
        parse_mappings([{"source": "a", "target": "t"}, {"source": "b", "target": "t"}])

    assert excinfo.value.errors[0].code == "duplicate_target"


def test_an_empty_mapping_is_refused():
    with pytest.raises(MappingError):
        parse_mappings([])


def test_a_reverse_value_map_lets_several_values_mean_one_going_back():
    # given
    rules = parse_mappings(
        [
            {
                "source": "state",
                "target": "State",
                "value_map": {"open": "Active", "closed": "Closed"},
                "reverse_value_map": {"New": "open", "Active": "open", "Resolved": "closed", "Closed": "closed"},
            }
        ]
    )
    # when / then
    assert apply_mappings(rules, {"state": "open"}, "to_target") == {"State": "Active"}
    assert apply_mappings(rules, {"State": "New"}, "to_source") == {"state": "open"}
    assert apply_mappings(rules, {"State": "Resolved"}, "to_source") == {"state": "closed"}
    assert rules[0].as_dict()["reverse_value_map"]["New"] == "open"


def test_a_wildcard_in_the_reverse_map_catches_values_going_back():
    rules = parse_mappings([{"source": "s", "target": "t", "reverse_value_map": {"Done": "closed", "*": "open"}}])

    assert apply_mappings(rules, {"t": "Blocked"}, "to_source") == {"s": "open"}
    assert apply_mappings(rules, {"s": "anything"}, "to_target") == {"t": "anything"}


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"source": "s", "target": "t", "reverse_value_map": []}, "invalid"),
        ({"source": "s", "target": "t", "reverse_value_map": {"a": "b"}, "direction": "to_target"}, "one_way_only"),
    ],
)
def test_a_bad_reverse_value_map_is_refused(rule, code):
    with pytest.raises(MappingError) as excinfo:
        parse_mappings([rule])

    assert [(e.field, e.code) for e in excinfo.value.errors] == [("mappings[0].reverse_value_map", code)]
