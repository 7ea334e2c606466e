"""A manifest rehearsed on its recorded responses: the declarative runner, with no network at all."""

from __future__ import annotations

import copy

from apps.connectors.manifest_rehearsal import rehearse_manifest
from tests.factories.connectors import MINIMAL_MANIFEST

RECORDING = {
    "settings": {},
    "credentials": {"token": "recorded-token"},
    "responses": [
        {"method": "GET", "path": "/me", "status": 200, "body": {"id": "me"}},
        {"method": "GET", "path": "/things", "status": 200, "body": [{"id": "a"}, {"id": "b"}]},
    ],
}


def test_a_manifest_that_works_on_its_recording_has_no_problems():
    assert rehearse_manifest(document=MINIMAL_MANIFEST, recording=RECORDING) == []


def test_a_stream_whose_request_has_no_recorded_answer_is_a_problem_named_by_stream():
    # given a manifest reading a path the recording does not answer
    document = copy.deepcopy(MINIMAL_MANIFEST)
    document["streams"][0]["request"]["path"] = "/widgets"
    # when
    problems = rehearse_manifest(document=document, recording=RECORDING)
    # then
    [problem] = problems
    assert problem.where == "streams.thing"
    assert "GET /widgets" in problem.message


def test_records_breaking_the_streams_schema_are_a_problem():
    document = copy.deepcopy(MINIMAL_MANIFEST)
    document["streams"][0]["schema"]["properties"]["id"] = {"type": "integer"}

    [problem] = rehearse_manifest(document=document, recording=RECORDING)

    assert problem.where == "streams.thing"
    assert "schema" in problem.message


def test_a_failing_connection_check_is_a_problem():
    recording = copy.deepcopy(RECORDING)
    recording["responses"][0]["status"] = 401

    problems = rehearse_manifest(document=MINIMAL_MANIFEST, recording=recording)

    assert [p.where for p in problems] == ["check"]


def test_an_action_is_invoked_with_its_recorded_input_and_its_output_checked():
    # given an action whose recorded answer lacks a required output field
    document = copy.deepcopy(MINIMAL_MANIFEST)
    document["actions"] = [
        {
            "name": "close_thing",
            "title": "Close a thing",
            "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            "output_schema": {"type": "object", "properties": {"state": {"type": "string"}}, "required": ["state"]},
            "request": {"method": "POST", "path": "/things/{{ input.id }}/close"},
        }
    ]
    recording = copy.deepcopy(RECORDING)
    recording["responses"].append({"method": "POST", "path": "/things/a/close", "status": 200, "body": {"ok": 1}})
    recording["actions"] = {"close_thing": {"input": {"id": "a"}}}
    # when
    [problem] = rehearse_manifest(document=document, recording=recording)
    # then
    assert problem.where == "actions.close_thing"
    assert "output" in problem.message


def test_an_invalid_manifest_or_recording_is_reported_without_running_anything():
    assert rehearse_manifest(document={"name": "x"}, recording=RECORDING)
    [problem] = rehearse_manifest(document=MINIMAL_MANIFEST, recording={"responses": "nope"})
    assert problem.where == "(recording).responses"
    credentials_missing = rehearse_manifest(document=MINIMAL_MANIFEST, recording={**RECORDING, "credentials": []})
    assert credentials_missing[0].where == "(recording).credentials"
