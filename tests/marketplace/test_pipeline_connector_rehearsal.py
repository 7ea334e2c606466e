"""The pipeline's test step runs a framework-format connector manifest on its recorded responses."""

from __future__ import annotations

import copy
import json

import pytest

from apps.marketplace.models import VersionStatus
from apps.marketplace.services import rescan_published_versions, upload_version
from tests.factories.connectors import MINIMAL_MANIFEST
from tests.factories.marketplace import build_package

pytestmark = pytest.mark.django_db

CONNECTOR = {**MINIMAL_MANIFEST, "name": "acme-tickets", "title": "Acme Tickets", "base_url": "https://api.acme.io"}
RECORDING = {
    "credentials": {"token": "recorded-token"},
    "responses": [
        {"method": "GET", "path": "/me", "status": 200, "body": {"id": "me"}},
        {"method": "GET", "path": "/things", "status": 200, "body": [{"id": "a"}, {"id": "b"}]},
    ],
}


def _upload(publisher, developer, run_on_commit, files):
    with run_on_commit():
        version = upload_version(publisher=publisher, actor=developer, data=build_package(files=files))
    version.refresh_from_db()
    return version


def test_a_connector_that_works_on_its_recording_is_published(developer, publisher, run_on_commit):
    version = _upload(
        publisher,
        developer,
        run_on_commit,
        {"connector.json": json.dumps(CONNECTOR), "connector.recording.json": json.dumps(RECORDING)},
    )

    assert version.status == VersionStatus.PUBLISHED, version.findings
    assert version.steps["test"]["status"] == "passed"


def test_a_connector_whose_stream_fails_on_its_recording_is_rejected_naming_the_stream(
    developer, publisher, run_on_commit
):
    # given a stream reading a path the recording does not answer
    connector = copy.deepcopy(CONNECTOR)
    connector["streams"][0]["request"]["path"] = "/tickets"
    # when
    version = _upload(
        publisher,
        developer,
        run_on_commit,
        {"connector.json": json.dumps(connector), "connector.recording.json": json.dumps(RECORDING)},
    )
    # then
    assert version.status == VersionStatus.REJECTED
    [finding] = version.findings
    assert finding["rule_id"] == "MKT-T001"
    assert finding["file"] == "connector.json"
    assert finding["message"].startswith("streams.thing: ")
    assert "GET /tickets" in finding["message"]
    assert version.steps["test"]["status"] == "failed"


def test_a_connector_without_a_recording_is_rejected_saying_what_to_add(developer, publisher, run_on_commit):
    version = _upload(publisher, developer, run_on_commit, {"connector.json": json.dumps(CONNECTOR)})

    assert version.status == VersionStatus.REJECTED
    [finding] = version.findings
    assert "connector.recording.json" in finding["message"]


def test_a_framework_manifest_breaking_the_frameworks_schema_is_rejected(developer, publisher, run_on_commit):
    connector = {**CONNECTOR, "streams": []}

    version = _upload(
        publisher,
        developer,
        run_on_commit,
        {"connector.json": json.dumps(connector), "connector.recording.json": json.dumps(RECORDING)},
    )

    assert version.status == VersionStatus.REJECTED
    assert {f["rule_id"] for f in version.findings} == {"MKT-T001"}
    assert any("streams" in f["message"] for f in version.findings)


def test_a_published_framework_manifest_is_not_quarantined_by_a_rescan(developer, publisher, run_on_commit):
    # given
    version = _upload(
        publisher,
        developer,
        run_on_commit,
        {"connector.json": json.dumps(CONNECTOR), "connector.recording.json": json.dumps(RECORDING)},
    )
    assert version.status == VersionStatus.PUBLISHED
    # when
    rescan_published_versions(force=True)
    # then
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED
