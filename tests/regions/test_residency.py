"""Residency rules refuse data leaving for a forbidden location, with a clear error and a security event."""

from __future__ import annotations

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import RuleEffect
from apps.regions.residency import ResidencyViolation
from apps.regions.services import add_residency_rule, check_in_region, check_residency
from apps.security.models import AuditEvent
from tests.factories.accounts import OrganizationFactory
from tests.factories.regions import RegionFactory, ResidencyRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_west():
    return RegionFactory(code="eu-west")


@pytest.fixture
def eu_organization(eu_west):
    ResidencyRuleFactory(region=eu_west, effect=RuleEffect.ALLOW, location_pattern="eu-*", reason="GDPR: EU only")
    return OrganizationFactory(home_region_code="eu-west")


def _refusals(organization) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=str(organization.pk), action="regions.residency_refused"))


@pytest.mark.parametrize("location", ["eu-west", "eu-central", "EU-West ", "eu-north-1"])
def test_it_allows_locations_an_allow_rule_matches(eu_organization, location):
    check_residency(organization=eu_organization, destination_location=location)

    assert _refusals(eu_organization) == []


def test_it_refuses_a_location_no_allow_rule_matches_and_records_a_security_event(eu_organization):
    # when
    with pytest.raises(ResidencyViolation) as refused:
        check_residency(organization=eu_organization, destination_location="us-east", purpose="sync write")
    # then
    assert refused.value.code == "residency_violation"
    assert refused.value.field == "destination_location"
    assert refused.value.status_code == 422
    assert "us-east" in refused.value.message
    assert "GDPR: EU only" in refused.value.message
    [event] = _refusals(eu_organization)
    assert event.data["destination_location"] == "us-east"
    assert event.data["home_region"] == "eu-west"
    assert event.data["purpose"] == "sync write"
    assert event.data["rule_id"] == str(refused.value.rule_id)


def test_a_refusal_is_counted_for_prometheus(eu_organization):
    labels = {"home_region": "eu-west", "destination": "ap-southeast"}
    before = REGISTRY.get_sample_value("nofx_residency_refusals_total", labels) or 0.0

    with pytest.raises(ResidencyViolation):
        check_residency(organization=eu_organization, destination_location="ap-southeast")

    assert REGISTRY.get_sample_value("nofx_residency_refusals_total", labels) == before + 1


@pytest.mark.parametrize("location", ["", "   ", None, "somewhere in europe", "eu_west", "eu-"])
def test_an_undeclared_or_malformed_location_is_refused_when_rules_apply(eu_organization, location):
    with pytest.raises(ResidencyViolation, match="may not be sent"):
        check_residency(organization=eu_organization, destination_location=location)

    assert len(_refusals(eu_organization)) == 1


def test_without_rules_any_declared_or_undeclared_location_is_allowed():
    RegionFactory(code="us-east")
    organization = OrganizationFactory(home_region_code="us-east")

    check_residency(organization=organization, destination_location="ap-southeast")
    check_residency(organization=organization, destination_location="")

    assert _refusals(organization) == []


def test_a_deny_rule_wins_over_an_allow_rule(eu_west, eu_organization):
    ResidencyRuleFactory(region=eu_west, effect=RuleEffect.DENY, location_pattern="eu-east", reason="Not certified")

    with pytest.raises(ResidencyViolation, match="Not certified"):
        check_residency(organization=eu_organization, destination_location="eu-east")
    check_residency(organization=eu_organization, destination_location="eu-west")


def test_an_organizations_own_rule_narrows_its_regions_rules(eu_west, eu_organization):
    # given the organization allows only eu-west, inside the region's eu-*
    ResidencyRuleFactory(
        region=eu_west, organization=eu_organization, location_pattern="eu-west", reason="Our works council"
    )
    other = OrganizationFactory(home_region_code="eu-west")
    # then
    with pytest.raises(ResidencyViolation, match="works council"):
        check_residency(organization=eu_organization, destination_location="eu-central")
    check_residency(organization=eu_organization, destination_location="eu-west")
    check_residency(organization=other, destination_location="eu-central")


def test_a_disabled_rule_no_longer_applies(eu_west):
    ResidencyRuleFactory(region=eu_west, location_pattern="eu-*", is_active=False)
    organization = OrganizationFactory(home_region_code="eu-west")

    check_residency(organization=organization, destination_location="us-east")

    assert _refusals(organization) == []


def test_rules_of_another_region_do_not_apply(eu_organization):
    us = OrganizationFactory(home_region_code="us-east")

    check_residency(organization=us, destination_location="ap-southeast")


def test_adding_a_rule_is_audited_and_validates_its_pattern(eu_west):
    rule = add_residency_rule(region=eu_west, effect="deny", location_pattern="US-*", reason="Export control")

    assert rule.location_pattern == "us-*"
    assert AuditEvent.objects.filter(action="regions.residency_rule_added", target_id=str(rule.pk)).exists()
    for pattern in ("", "eu west", "eu/west", "eu_*"):
        with pytest.raises(BusinessRuleViolation, match="location pattern"):
            add_residency_rule(region=eu_west, effect="deny", location_pattern=pattern, reason="x")
    with pytest.raises(BusinessRuleViolation, match="why"):
        add_residency_rule(region=eu_west, effect="deny", location_pattern="us-*", reason=" ")
    with pytest.raises(BusinessRuleViolation, match="effect"):
        add_residency_rule(region=eu_west, effect="maybe", location_pattern="us-*", reason="x")


@override_settings(REGION_CODE="eu-west")
def test_backups_and_exports_must_stay_in_the_region():
    check_in_region(destination_location="eu-west", what="Backups")
    for elsewhere in ("us-east", "", "eu-central"):
        with pytest.raises(ResidencyViolation, match="must stay in region eu-west"):
            check_in_region(destination_location=elsewhere, what="Backups")
