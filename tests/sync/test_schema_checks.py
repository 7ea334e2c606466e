"""A workflow's mapping is checked against both sides' JSON Schemas when it is saved."""

from apps.sync.mapping import parse_mappings
from apps.sync.schemas import record_errors, validate_mappings_against_schemas

JIRA_ISSUE = {
    "type": "object",
    "properties": {
        "key": {"type": "string", "readOnly": True},
        "fields": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "status": {"type": "object", "properties": {"name": {"type": "string", "enum": ["To Do", "Done"]}}},
                "storyPoints": {"type": ["number", "null"]},
            },
            "required": ["summary"],
        },
    },
}
SNOW_INCIDENT = {
    "type": "object",
    "properties": {
        "short_description": {"type": "string", "maxLength": 160},
        "state": {"type": "string", "enum": ["1", "2", "7"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 3},
        "sys_id": {"type": "string", "readOnly": True},
    },
    "required": ["short_description"],
}


def _check(raw, bidirectional=True):
    return validate_mappings_against_schemas(
        parse_mappings(raw),
        source_schema=JIRA_ISSUE,
        target_schema=SNOW_INCIDENT,
        bidirectional=bidirectional,
        source_name="Jira issue",
        target_name="ServiceNow incident",
    )


def test_a_sound_mapping_has_no_errors():
    errors = _check(
        [
            {"source": "fields.summary", "target": "short_description"},
            {"source": "fields.status.name", "target": "state", "value_map": {"To Do": "1", "Done": "7"}},
        ]
    )

    assert errors == []


def test_unknown_fields_on_either_side_are_named():
    errors = _check(
        [{"source": "fields.summary", "target": "short_description"}, {"source": "fields.nope", "target": "nada"}]
    )

    messages = [e.message for e in errors]
    assert "`fields.nope` is not a field of the Jira issue." in messages
    assert "`nada` is not a field of the ServiceNow incident." in messages


def test_a_type_mismatch_asks_for_a_coercion():
    errors = _check(
        [
            {"source": "fields.summary", "target": "short_description"},
            {"source": "fields.storyPoints", "target": "state"},
        ],
        bidirectional=False,
    )

    assert [e.code for e in errors] == ["type_mismatch"]


def test_value_map_outputs_must_be_allowed_by_the_target_enum():
    errors = _check(
        [
            {"source": "fields.summary", "target": "short_description"},
            {"source": "fields.status.name", "target": "state", "value_map": {"To Do": "1", "Done": "9"}},
        ],
        bidirectional=False,
    )

    assert [(e.field, e.code) for e in errors] == [("mappings[1].value_map", "not_in_enum")]


def test_a_required_target_field_left_unmapped_is_reported():
    errors = _check(
        [{"source": "fields.status.name", "target": "state", "value_map": {"To Do": "1"}}], bidirectional=False
    )

    assert [(e.field, e.code) for e in errors] == [("target.short_description", "required_unmapped")]


def test_read_only_fields_cannot_be_written_back():
    errors = _check(
        [{"source": "fields.summary", "target": "short_description"}, {"source": "key", "target": "sys_id"}]
    )

    assert {e.code for e in errors} == {"read_only"}
    assert len(errors) == 2  # sys_id going forward, key going back


def test_a_record_is_checked_against_the_target_schema_before_it_is_written():
    assert record_errors({"short_description": "x" * 200, "urgency": 9}, SNOW_INCIDENT, partial=True) == [
        "short_description: '" + "x" * 200 + "' is too long",
        "urgency: 9 is greater than the maximum of 3",
    ]
    assert record_errors({"urgency": 2}, SNOW_INCIDENT, partial=False) == [
        "(record): 'short_description' is a required property"
    ]
    assert record_errors({"urgency": 2}, SNOW_INCIDENT, partial=True) == []
