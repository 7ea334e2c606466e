"""The test step's static checks of declarative payloads (what `nofx ext test` runs locally)."""

from __future__ import annotations

import json

from nofx_sdk.rules import PackageContext, check_payload, read_package
from tests.factories.marketplace import WORKFLOW, build_package, manifest


def check(data: bytes) -> list:
    return check_payload(read_package(data), PackageContext())


def workflow_package(definition: dict) -> bytes:
    return build_package(
        manifest(type="workflow", entryPoint="workflow.json"), files={"workflow.json": json.dumps(definition, indent=2)}
    )


def test_a_valid_connector_and_workflow_pass():
    assert check(build_package()) == []
    assert check(workflow_package(WORKFLOW)) == []


def test_a_connector_manifest_missing_its_auth_trips_t001_at_the_root():
    data = build_package(
        files={"connector.json": json.dumps({"name": "acme", "baseUrl": "https://api.acme.io", "actions": []})}
    )

    messages = [(f.rule_id, f.message) for f in check(data)]

    assert ("MKT-T001", "(root): 'auth' is a required property") in messages
    assert ("MKT-T001", "actions: [] should be non-empty") in messages


def test_a_workflow_with_a_bad_direction_trips_t002_with_its_line():
    (finding,) = check(workflow_package({**WORKFLOW, "direction": "sideways"}))

    assert finding.rule_id == "MKT-T002"
    assert finding.message == "direction: 'sideways' is not one of ['one_way', 'two_way']"
    assert finding.file == "workflow.json"
    assert finding.line == 11


def test_a_workflow_may_use_a_connector_it_depends_on():
    definition = {**WORKFLOW, "target": {"connector": "acme.crm", "object": "deal"}}
    data = build_package(
        manifest(type="workflow", entryPoint="workflow.json", dependencies=[{"id": "acme.crm", "version": "^1"}]),
        files={"workflow.json": json.dumps(definition)},
    )

    assert check(data) == []


def test_an_unparseable_payload_trips_t001():
    (finding,) = check(build_package(files={"connector.json": "{oops"}))

    assert finding.rule_id == "MKT-T001"
    assert finding.message.startswith("The connector manifest is not valid JSON")
