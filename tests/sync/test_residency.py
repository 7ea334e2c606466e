"""The sync engine asks the regions service before every write: a forbidden location fails the record."""

from __future__ import annotations

import pytest

from apps.regions.models import RuleEffect
from apps.security.models import AuditEvent
from apps.sync.models import FailedRecord, FailedRecordStatus, RecordLink
from tests.factories.regions import RegionFactory, ResidencyRuleFactory
from tests.sync.conftest import titles, writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_only(organization):
    region = RegionFactory(code=organization.home_region_code)
    return ResidencyRuleFactory(
        region=region, effect=RuleEffect.ALLOW, location_pattern="eu-*", reason="GDPR: EU/EEA only"
    )


def test_a_rule_forbidding_the_targets_location_fails_the_record_and_writes_nothing(
    systems, connect, make_workflow, run_sync, organization, eu_only
):
    # given a target connector declaring a US location, and a rule allowing only EU locations
    left, right = systems
    left.add_issue("Payroll export")
    source = connect(left, "GitHub (EU)", data_region="eu-west")
    target = connect(right, "GitHub (US)", data_region="us-east")
    workflow = make_workflow(source_connector=source, target_connector=target)
    # when
    run = run_sync(workflow)
    # then the record is in the failed list with the rule's reason, and the target saw no write
    assert writes(right) == []
    assert titles(right) == []
    [failed] = FailedRecord.objects.filter(workflow=workflow)
    assert failed.status == FailedRecordStatus.OPEN
    assert failed.error_class == "residency"
    assert failed.error_code == "residency_refused"
    assert failed.retryable is False
    assert "us-east" in failed.reason
    assert "GDPR: EU/EEA only" in failed.reason
    assert failed.details == [{"rule_id": str(eu_only.pk), "destination_location": "us-east"}]
    assert run.records_failed == 1
    assert not RecordLink.objects.filter(workflow=workflow).exists()
    # and regions recorded the refusal as a security event
    [event] = AuditEvent.objects.filter(action="regions.residency_refused", chain=str(organization.pk))
    assert event.data["destination_location"] == "us-east"


def test_a_connector_without_a_declared_location_is_refused_when_rules_apply(
    systems, connect, make_workflow, run_sync, eu_only
):
    # given
    left, right = systems
    left.add_issue("Payroll export")
    target = connect(right, "GitHub (somewhere)")
    workflow = make_workflow(source_connector=connect(left, "GitHub (EU)"), target_connector=target)
    # when
    run_sync(workflow)
    # then
    assert writes(right) == []
    [failed] = FailedRecord.objects.filter(workflow=workflow)
    assert "an undeclared location" in failed.reason


def test_an_allowed_location_is_written(systems, connect, make_workflow, run_sync, eu_only):
    # given
    left, right = systems
    left.add_issue("Payroll export")
    target = connect(right, "GitHub (Frankfurt)", data_region="eu-central")
    workflow = make_workflow(source_connector=connect(left, "GitHub (EU)"), target_connector=target)
    # when
    run = run_sync(workflow)
    # then
    assert titles(right) == ["Payroll export"]
    assert run.records_failed == 0
    assert not FailedRecord.objects.filter(workflow=workflow).exists()


def test_an_update_to_a_now_forbidden_location_is_refused(systems, connect, make_workflow, run_sync, organization):
    # given a record synced before any rule existed
    left, right = systems
    issue = left.add_issue("Payroll export", body="v1")
    target = connect(right, "GitHub (US)", data_region="us-east")
    workflow = make_workflow(source_connector=connect(left, "GitHub (EU)"), target_connector=target)
    run_sync(workflow)
    right.log.clear()
    region = RegionFactory(code=organization.home_region_code)
    ResidencyRuleFactory(region=region, effect=RuleEffect.DENY, location_pattern="us-*", reason="No US transfers")
    # when
    left.touch_issue(issue["number"], body="v2")
    run_sync(workflow)
    # then
    assert writes(right) == []
    [failed] = FailedRecord.objects.filter(workflow=workflow)
    assert "No US transfers" in failed.reason


def test_an_allowed_connector_is_asked_about_once_per_run_and_each_refusal_is_recorded(
    systems, connect, make_workflow, run_sync, organization, eu_only, monkeypatch
):
    # given three records for an allowed target and two for a refused one
    from apps.sync import residency

    asked = []
    ask = residency.check_residency
    monkeypatch.setattr(residency, "check_residency", lambda **kwargs: asked.append(kwargs) or ask(**kwargs))
    left, right = systems
    for n in range(3):
        left.add_issue(f"Payroll {n}")
    allowed = make_workflow(
        name="To Frankfurt",
        source_connector=connect(left, "GitHub (EU)"),
        target_connector=connect(right, "GitHub (Frankfurt)", data_region="eu-central"),
    )
    # when
    run_sync(allowed)
    # then
    assert titles(right) == ["Payroll 0", "Payroll 1", "Payroll 2"]
    assert len(asked) == 1
    # and when the same records go to a refused location
    refused = make_workflow(
        name="To Virginia",
        source_connector=connect(left, "GitHub (EU, again)"),
        target_connector=connect(right, "GitHub (US)", data_region="us-east"),
    )
    run_sync(refused)
    # then every refused write is its own failed record and security event
    assert FailedRecord.objects.filter(workflow=refused).count() == 3
    assert AuditEvent.objects.filter(action="regions.residency_refused", chain=str(organization.pk)).count() == 3
