"""Continuous control checks: a failure opens a finding, fixing the cause closes it, the score moves by the rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.roles import Role
from apps.compliance import checks
from apps.compliance.models import (
    ComplianceScore,
    ControlCheckResult,
    Finding,
    FindingSeverity,
    FindingStatus,
    Framework,
    RequirementResult,
    ResultStatus,
)
from apps.compliance.services import (
    create_assessment,
    load_frameworks,
    record_requirement_result,
    requirement_status,
    run_control_checks,
)
from apps.core.services import rotate_encrypted_fields
from apps.security.models import EventStatus, Severity
from apps.security.services import verify_audit_chains
from tests.factories.accounts import MembershipFactory
from tests.factories.security import SecurityEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def frameworks():
    return {f.code: f for f in load_frameworks()}


def _mfa(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})


def _status(organization, code):
    return ControlCheckResult.objects.filter(organization=organization, check_code=code).latest("ran_at").status


# -- The library -----------------------------------------------------------------------------------------


def test_the_four_framework_outlines_load_with_their_requirements_and_check_mappings(frameworks):
    assert set(frameworks) == {"soc2", "iso27001", "hipaa", "pcidss"}
    for framework in frameworks.values():
        assert framework.requirements.count() >= 12
    cc61 = frameworks["soc2"].requirements.get(code="CC6.1")
    assert cc61.checks == ["mfa_coverage", "sso_enforced"]
    mapped = {code for f in frameworks.values() for r in f.requirements.all() for code in r.checks}
    assert mapped == set(checks.CHECKS)


def test_loading_again_updates_in_place(frameworks, capsys):
    call_command("load_compliance_frameworks")

    assert Framework.objects.count() == 4
    assert "soc2:" in capsys.readouterr().out


def test_an_outline_naming_an_unknown_check_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "code: bad\nname: Bad\nrequirements:\n  - code: X.1\n    title: t\n    checks: [no_such_check]\n"
    )

    from django.core.management import CommandError

    with pytest.raises(CommandError, match="unknown checks"):
        call_command("load_compliance_frameworks", "--directory", str(tmp_path))


def test_a_requirement_fails_if_any_check_fails_and_passes_if_one_passes_and_none_fails():
    outcomes = {"a": ResultStatus.PASSED, "b": ResultStatus.FAILED, "c": ResultStatus.NOT_TESTED}

    assert requirement_status(["a", "b"], outcomes) == ResultStatus.FAILED
    assert requirement_status(["a", "c"], outcomes) == ResultStatus.PASSED
    assert requirement_status(["c", "missing"], outcomes) == ResultStatus.NOT_TESTED


# -- Failing, finding, fixing --------------------------------------------------------------------------------


def test_a_failing_mfa_check_opens_a_finding_and_enrolling_closes_it_on_the_next_run(frameworks):
    # given an owner with MFA and a developer without
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    developer = MembershipFactory(organization=organization, role=Role.DEVELOPER)
    _mfa(owner.user)
    # when
    run_control_checks(organization=organization)
    # then
    finding = Finding.objects.get(organization=organization, check_code="mfa_coverage")
    assert finding.status == FindingStatus.OPEN
    assert finding.severity == FindingSeverity.HIGH
    assert finding.owner == owner.user
    assert finding.due_date == timezone.localdate() + dt.timedelta(days=14)
    assert finding.requirement is not None
    assert "mfa_coverage" in finding.requirement.checks
    # when the cause is fixed
    _mfa(developer.user)
    run_control_checks(organization=organization)
    # then
    finding.refresh_from_db()
    assert finding.status == FindingStatus.RESOLVED
    assert finding.closed_at is not None
    assert "passed" in finding.resolution


def test_a_still_failing_check_does_not_open_a_second_finding(frameworks):
    organization = MembershipFactory(role=Role.OWNER).organization

    run_control_checks(organization=organization)
    run_control_checks(organization=organization)

    assert Finding.objects.filter(organization=organization, check_code="mfa_coverage").count() == 1


def test_an_open_critical_event_fails_its_check_and_resolving_it_passes(frameworks):
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    event = SecurityEventFactory(organization=organization, severity=Severity.CRITICAL)

    run_control_checks(organization=organization)
    assert _status(organization, "open_critical_events") == ResultStatus.FAILED
    finding = Finding.objects.get(check_code="open_critical_events")
    assert finding.severity == FindingSeverity.CRITICAL

    event.status = EventStatus.RESOLVED
    event.save()
    run_control_checks(organization=organization)

    assert _status(organization, "open_critical_events") == ResultStatus.PASSED
    finding.refresh_from_db()
    assert finding.status == FindingStatus.RESOLVED


def test_the_audit_check_wants_a_successful_verification_within_a_day(frameworks):
    organization = MembershipFactory(role=Role.OWNER).organization
    run_control_checks(organization=organization)
    assert _status(organization, "audit_chain_verified") == ResultStatus.FAILED

    verify_audit_chains()
    run_control_checks(organization=organization)

    assert _status(organization, "audit_chain_verified") == ResultStatus.PASSED


def test_rotating_the_encryption_keys_passes_the_rotation_check(frameworks):
    organization = MembershipFactory(role=Role.OWNER).organization
    run_control_checks(organization=organization)
    assert _status(organization, "encryption_key_rotation") == ResultStatus.FAILED

    rotate_encrypted_fields()
    run_control_checks(organization=organization)

    assert _status(organization, "encryption_key_rotation") == ResultStatus.PASSED


def test_a_member_who_has_not_signed_in_for_ninety_days_is_dormant(frameworks):
    owner = MembershipFactory(role=Role.OWNER)
    owner.user.last_login = timezone.now()
    owner.user.save()
    stale = MembershipFactory(organization=owner.organization)
    stale.user.last_login = timezone.now() - dt.timedelta(days=91)
    stale.user.save()

    run_control_checks(organization=owner.organization)
    assert _status(owner.organization, "dormant_accounts") == ResultStatus.FAILED

    stale.user.last_login = timezone.now()
    stale.user.save()
    run_control_checks(organization=owner.organization)
    assert _status(owner.organization, "dormant_accounts") == ResultStatus.PASSED


def test_checks_without_a_data_source_are_not_tested_and_say_which_app_provides_it(frameworks):
    organization = MembershipFactory(role=Role.OWNER).organization

    run_control_checks(organization=organization)

    for code, owner in (
        ("sso_enforced", "identity"),
        ("api_key_age", "gateway"),
        ("restore_drill", "regions"),
        ("connector_residency", "connectors"),
    ):
        result = ControlCheckResult.objects.get(organization=organization, check_code=code)
        assert result.status == ResultStatus.NOT_TESTED
        assert owner in result.reason
    assert not Finding.objects.filter(check_code__in=["sso_enforced", "api_key_age"]).exists()


def test_a_registered_provider_turns_a_check_on(frameworks):
    organization = MembershipFactory(role=Role.OWNER).organization
    old = timezone.now() - dt.timedelta(days=200)
    checks.register_control_data_provider("api_keys", lambda org: [{"id": "k1", "created_at": old, "rotated_at": None}])
    checks.register_control_data_provider(
        "restore_drills",
        lambda org: {"finished_at": timezone.now(), "ok": True, "rpo_seconds": 120, "rto_seconds": 600},
    )
    try:
        run_control_checks(organization=organization)
    finally:
        checks.unregister_control_data_provider("api_keys")
        checks.unregister_control_data_provider("restore_drills")

    assert _status(organization, "api_key_age") == ResultStatus.FAILED
    assert _status(organization, "restore_drill") == ResultStatus.PASSED


# -- The score ----------------------------------------------------------------------------------------------


def test_the_score_is_passed_over_tested_and_moves_when_a_cause_is_fixed(frameworks):
    # given an organization with a continuous SOC 2 assessment
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    assessment = create_assessment(
        organization=organization, framework=frameworks["soc2"], assessment_type="continuous", actor=owner.user
    )
    verify_audit_chains()
    rotate_encrypted_fields()
    # when MFA is missing: mfa fails; audit, rotation, dormant and critical events pass; 4 are not tested
    run_control_checks(organization=organization)
    overall = ComplianceScore.objects.get(organization=organization, framework=None)
    assert (overall.passed, overall.failed, overall.not_tested) == (4, 1, 4)
    assert overall.score == Decimal("80.0")
    assessment.refresh_from_db()
    soc2_before = assessment.score
    cc61 = RequirementResult.objects.get(assessment=assessment, requirement__code="CC6.1")
    assert cc61.status == ResultStatus.FAILED
    # when the member enrols
    _mfa(owner.user)
    run_control_checks(organization=organization)
    # then the day's score is replaced, not duplicated, and moved up
    overall = ComplianceScore.objects.get(organization=organization, framework=None)
    assert overall.score == Decimal("100.0")
    assessment.refresh_from_db()
    assert assessment.score == Decimal("100.0") > soc2_before
    assert ComplianceScore.objects.filter(organization=organization, framework=frameworks["soc2"]).count() == 1


def test_a_manual_result_is_never_overwritten_by_the_checks(frameworks):
    owner = MembershipFactory(role=Role.OWNER)
    assessment = create_assessment(
        organization=owner.organization,
        framework=frameworks["soc2"],
        assessment_type="internal_audit",
        actor=owner.user,
    )
    requirement = frameworks["soc2"].requirements.get(code="CC6.1")
    record_requirement_result(
        assessment=assessment, requirement=requirement, status=ResultStatus.NOT_APPLICABLE, actor=owner.user
    )

    run_control_checks(organization=owner.organization)

    assert RequirementResult.objects.get(assessment=assessment, requirement=requirement).status == "not_applicable"


def test_nothing_tested_gives_an_empty_score_not_zero(frameworks):
    owner = MembershipFactory(role=Role.OWNER)
    assessment = create_assessment(
        organization=owner.organization,
        framework=frameworks["iso27001"],
        assessment_type="self_assessment",
        actor=owner.user,
    )

    assert assessment.score is None
