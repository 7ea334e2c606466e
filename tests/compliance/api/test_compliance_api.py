import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.compliance.models import Evidence, FindingStatus
from apps.compliance.services import load_frameworks
from apps.security.models import AuditEvent
from tests.factories.compliance import AssessmentFactory, EvidenceFactory, FindingFactory


@pytest.fixture
def frameworks(db):
    return {f.code: f for f in load_frameworks()}


def test_an_admin_starts_an_assessment_with_the_seed_fields_and_a_result_per_requirement(owner_client, frameworks):
    # when
    response = owner_client.post(
        "/api/v1/compliance-assessments/",
        {
            "framework": "hipaa",
            "assessment_type": "external_audit",
            "scope": "Production region us-east",
            "auditor": "Example Assurance LLP",
            "audit_date": "2026-10-01",
            "next_audit_date": "2027-10-01",
        },
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["framework"], body["auditor"], body["next_audit_date"]) == (
        "hipaa",
        "Example Assurance LLP",
        "2027-10-01",
    )
    results = owner_client.get(f"/api/v1/compliance-assessments/{body['id']}/results/").json()
    assert len(results) == frameworks["hipaa"].requirements.count()


def test_an_unknown_framework_or_dates_out_of_order_are_refused(owner_client, frameworks):
    unknown = owner_client.post(
        "/api/v1/compliance-assessments/", {"framework": "nope", "assessment_type": "internal_audit"}
    )
    backwards = owner_client.post(
        "/api/v1/compliance-assessments/",
        {
            "framework": "soc2",
            "assessment_type": "internal_audit",
            "audit_date": "2026-10-01",
            "next_audit_date": "2026-01-01",
        },
    )

    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "framework"
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "next_audit_date"


def test_an_assessor_records_a_result_and_the_score_follows(owner_client, organization, frameworks):
    assessment = owner_client.post(
        "/api/v1/compliance-assessments/", {"framework": "pcidss", "assessment_type": "self_assessment"}
    ).json()

    passed = owner_client.post(
        f"/api/v1/compliance-assessments/{assessment['id']}/results/", {"requirement": "1.2", "status": "passed"}
    )
    unknown = owner_client.post(
        f"/api/v1/compliance-assessments/{assessment['id']}/results/", {"requirement": "99.9", "status": "passed"}
    )

    assert passed.status_code == 200
    assert passed.json()["automated"] is False
    assert unknown.status_code == 400
    assert owner_client.get(f"/api/v1/compliance-assessments/{assessment['id']}/").json()["score"] == "100.0"


def test_a_viewer_reads_assessments_but_cannot_record_results(api_client, viewer, organization, frameworks):
    assessment = AssessmentFactory(organization=organization, framework=frameworks["soc2"])
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/compliance-assessments/").status_code == 200
    assert api_client.get(f"/api/v1/compliance-assessments/{assessment.pk}/results/").status_code == 200
    refused = api_client.post(
        f"/api/v1/compliance-assessments/{assessment.pk}/results/", {"requirement": "CC6.1", "status": "passed"}
    )
    assert refused.status_code == 403


def test_evidence_is_uploaded_with_its_sha256_and_listed(owner_client, organization, frameworks):
    assessment = AssessmentFactory(organization=organization, framework=frameworks["soc2"])
    content = b"access review export, Q3"
    expires = (timezone.now() + dt.timedelta(days=90)).isoformat()

    response = owner_client.post(
        "/api/v1/compliance-evidence/",
        {
            "file": SimpleUploadedFile("review.csv", content, content_type="text/csv"),
            "assessment": str(assessment.pk),
            "requirement": "CC6.2",
            "description": "Quarterly access review",
            "expires_at": expires,
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert Evidence.objects.get().requirement.code == "CC6.2"
    assert AuditEvent.objects.filter(action="compliance.evidence_uploaded").exists()


def test_evidence_for_a_requirement_of_another_framework_or_an_empty_file_is_refused(
    owner_client, organization, frameworks
):
    assessment = AssessmentFactory(organization=organization, framework=frameworks["soc2"])

    wrong = owner_client.post(
        "/api/v1/compliance-evidence/",
        {"file": SimpleUploadedFile("a.txt", b"x"), "assessment": str(assessment.pk), "requirement": "A.8.5"},
        format="multipart",
    )
    empty = owner_client.post(
        "/api/v1/compliance-evidence/", {"file": SimpleUploadedFile("a.txt", b"")}, format="multipart"
    )

    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "requirement"
    assert empty.status_code == 400


def test_a_finding_gets_an_owner_and_cannot_be_closed_without_a_resolution(owner_client, owner, organization, user):
    finding = FindingFactory(organization=organization)

    assigned = owner_client.patch(f"/api/v1/compliance-findings/{finding.pk}/", {"owner": str(owner.pk)})
    stranger = owner_client.patch(f"/api/v1/compliance-findings/{finding.pk}/", {"owner": str(user.pk)})
    bare_close = owner_client.patch(f"/api/v1/compliance-findings/{finding.pk}/", {"status": "resolved"})
    closed = owner_client.patch(
        f"/api/v1/compliance-findings/{finding.pk}/", {"status": "resolved", "resolution": "MFA enforced by policy."}
    )

    assert assigned.status_code == 200
    assert stranger.status_code == 422
    assert bare_close.status_code == 422
    assert closed.json()["status"] == FindingStatus.RESOLVED
    assert closed.json()["closed_at"] is not None


def test_listing_findings_and_evidence_takes_a_constant_number_of_queries(
    owner_client, organization, django_assert_max_num_queries
):
    for _ in range(10):
        FindingFactory(organization=organization)
        EvidenceFactory(organization=organization)

    with django_assert_max_num_queries(4):
        findings = owner_client.get("/api/v1/compliance-findings/").json()["results"]
    with django_assert_max_num_queries(4):
        evidence = owner_client.get("/api/v1/compliance-evidence/").json()["results"]
    with django_assert_max_num_queries(4):
        owner_client.get("/api/v1/compliance-assessments/")

    assert (len(findings), len(evidence)) == (10, 10)


def test_an_api_key_starts_an_assessment_and_uploads_evidence_as_the_audited_actor(organization, frameworks):
    from rest_framework.test import APIClient

    from apps.gateway.services import issue_api_key
    from tests.factories.gateway import ApiClientFactory, PlanFactory

    # given a key with the compliance scopes
    scopes = ["compliance:read", "compliance:write"]
    robot = ApiClientFactory(organization=organization, plan=PlanFactory(burst=100), allowed_scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_api_key(client=robot, actor=None, name='ci')[1]}")
    # when it starts an assessment and uploads evidence (no person: nobody is recorded as the uploader)
    started = client.post("/api/v1/compliance-assessments/", {"framework": "soc2", "assessment_type": "internal_audit"})
    uploaded = client.post(
        "/api/v1/compliance-evidence/",
        {"file": SimpleUploadedFile("scan.txt", b"all green"), "assessment": started.json().get("id")},
        format="multipart",
    )
    # then
    assert (started.status_code, uploaded.status_code) == (201, 201), (started.content, uploaded.content)
    evidence = Evidence.objects.get()
    assert evidence.uploaded_by is None
    event = AuditEvent.objects.get(action="compliance.evidence_uploaded")
    assert (event.actor_type, event.actor_id) == ("api_client", str(robot.pk))
