"""The compliance pages, the printable report, the CSV and the evidence bundle."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.roles import Role
from apps.compliance.models import Evidence
from apps.compliance.services import create_assessment, load_frameworks, run_control_checks, upload_evidence
from tests.factories.accounts import MembershipFactory
from tests.factories.compliance import AssessmentFactory

pytestmark = pytest.mark.django_db

INVALID = "INVALID_TEMPLATE_VARIABLE"


@pytest.fixture
def setup(client):
    frameworks = {f.code: f for f in load_frameworks()}
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    assessment = create_assessment(
        organization=organization,
        framework=frameworks["soc2"],
        assessment_type="external_audit",
        actor=owner.user,
        scope="The production control plane",
        auditor="Example Assurance",
    )
    run_control_checks(organization=organization)
    upload_evidence(
        organization=organization,
        upload=io.BytesIO(b"the access policy v3"),
        filename="access-policy.pdf",
        actor=owner.user,
        assessment=assessment,
        requirement=frameworks["soc2"].requirements.get(code="CC6.1"),
    )
    client.force_login(owner.user)
    return {"client": client, "owner": owner, "organization": organization, "assessment": assessment}


def _page(response, status=200):
    assert response.status_code == status
    body = response.content.decode()
    assert INVALID not in body
    return re.sub(r"\s+", " ", body)


def test_the_overview_shows_the_score_the_trend_every_check_and_the_open_findings(setup):
    body = _page(setup["client"].get("/compliance/"))

    assert '<svg class="chart"' in body
    for title in ("MFA coverage", "SSO enforced", "Audit log verified", "Restore drill", "Open critical events"):
        assert title in body
    assert "MFA coverage: check failed" in body
    assert "No data source yet" in body
    assert "SOC 2 (Trust Services Criteria)" in body


def test_the_assessment_page_lists_results_by_section_with_evidence_and_an_upload_form(setup):
    body = _page(setup["client"].get(f"/compliance/assessments/{setup['assessment'].pk}/"))

    assert "Logical and physical access" in body
    assert "CC6.1" in body
    assert "access-policy.pdf" in body
    assert 'enctype="multipart/form-data"' in body


def test_uploading_evidence_from_the_page_records_its_hash(setup):
    response = setup["client"].post(
        f"/compliance/assessments/{setup['assessment'].pk}/evidence/",
        {"file": SimpleUploadedFile("screenshot.png", b"\x89PNG fake"), "requirement": "CC7.2", "description": "SIEM"},
    )

    assert response.status_code == 302
    evidence = Evidence.objects.get(filename="screenshot.png")
    assert evidence.sha256 == hashlib.sha256(b"\x89PNG fake").hexdigest()


def test_an_upload_without_a_file_is_shown_again_with_the_error(setup):
    body = _page(setup["client"].post(f"/compliance/assessments/{setup['assessment'].pk}/evidence/", {}), status=400)

    assert "errorlist" in body


def test_the_printable_report_has_the_score_rule_results_findings_and_hashes(setup):
    evidence = Evidence.objects.get()

    body = _page(setup["client"].get(f"/compliance/assessments/{setup['assessment'].pk}/report/"))

    assert "Print or save as PDF" in body
    assert "passed ÷ (passed + failed)" in body
    assert "Example Assurance" in body
    assert evidence.sha256 in body
    assert "MFA coverage: check failed" in body


def test_the_csv_has_one_row_per_requirement(setup):
    response = setup["client"].get(f"/compliance/assessments/{setup['assessment'].pk}/report.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert len(rows) == setup["assessment"].framework.requirements.count()
    cc61 = next(r for r in rows if r["requirement"] == "CC6.1")
    assert (cc61["status"], cc61["source"], cc61["evidence_files"]) == ("failed", "automated", "access-policy.pdf")


def test_the_evidence_bundle_holds_every_file_the_report_and_a_manifest_of_hashes(setup):
    response = setup["client"].get(f"/compliance/assessments/{setup['assessment'].pk}/evidence.zip")

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    evidence_entry = next(e for e in manifest["files"] if e["path"].startswith("evidence/"))
    assert evidence_entry["matches_upload"] is True
    assert evidence_entry["requirement"] == "CC6.1"
    assert "report.csv" in archive.read("SHA256SUMS").decode()


def test_a_file_changed_in_storage_after_upload_is_flagged_in_the_bundle(setup):
    evidence = Evidence.objects.get()
    with evidence.file.storage.open(evidence.file.name, "wb") as handle:
        handle.write(b"tampered")

    response = setup["client"].get(f"/compliance/assessments/{setup['assessment'].pk}/evidence.zip")

    manifest = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("manifest.json"))
    assert next(e for e in manifest["files"] if e["path"].startswith("evidence/"))["matches_upload"] is False


def test_evidence_downloads_only_for_its_organization(setup, client):
    evidence = Evidence.objects.get()
    outsider = MembershipFactory(role=Role.OWNER)

    own = setup["client"].get(f"/compliance/evidence/{evidence.pk}/download/")
    client.force_login(outsider.user)
    foreign = client.get(f"/compliance/evidence/{evidence.pk}/download/")
    foreign_assessment = client.get(f"/compliance/assessments/{setup['assessment'].pk}/report/")

    assert b"".join(own.streaming_content) == b"the access policy v3"
    assert foreign.status_code == 404
    assert foreign_assessment.status_code == 404


def test_viewers_see_the_pages_but_not_the_upload_form_and_cannot_upload(setup, client):
    viewer = MembershipFactory(organization=setup["organization"], role=Role.VIEWER)
    client.force_login(viewer.user)

    body = _page(client.get(f"/compliance/assessments/{setup['assessment'].pk}/"))
    refused = client.post(
        f"/compliance/assessments/{setup['assessment'].pk}/evidence/", {"file": SimpleUploadedFile("a.txt", b"a")}
    )

    assert "Add evidence" not in body
    assert refused.status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/compliance/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_pages_need_the_same_queries_however_much_there_is(setup, django_assert_max_num_queries):
    organization = setup["organization"]
    for _ in range(5):
        AssessmentFactory(organization=organization, framework=setup["assessment"].framework)
        upload_evidence(
            organization=organization,
            upload=io.BytesIO(b"more"),
            filename="more.txt",
            actor=None,
            assessment=setup["assessment"],
        )
    client = setup["client"]

    with django_assert_max_num_queries(16):
        _page(client.get("/compliance/"))
    with django_assert_max_num_queries(16):
        _page(client.get(f"/compliance/assessments/{setup['assessment'].pk}/"))
    with django_assert_max_num_queries(16):
        _page(client.get(f"/compliance/assessments/{setup['assessment'].pk}/report/"))


def test_downloading_reports_counts_towards_the_mass_export_rule(setup, settings):
    from apps.security.models import SecurityEvent

    # given a low mass-export threshold
    settings.SECURITY_DETECTOR_THRESHOLDS = {"mass_export_records": 3}
    assessment = setup["assessment"]
    # when the report is downloaded as CSV (one row per requirement) and as a bundle
    setup["client"].get(f"/compliance/assessments/{assessment.pk}/report.csv")
    setup["client"].get(f"/compliance/assessments/{assessment.pk}/evidence.zip")
    # then the export rule saw the rows
    event = SecurityEvent.objects.get(event_type="mass_export")
    assert event.user == setup["owner"].user
    assert event.organization == setup["organization"]
