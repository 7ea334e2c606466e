"""The public list of regions a customer chooses a home region from."""

from __future__ import annotations

import pytest

from apps.regions.models import RegionStatus, RuleEffect
from tests.factories.regions import RegionFactory, ResidencyRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def regions(organization):
    eu = RegionFactory(code="eu-west", certifications=["GDPR", "ISO 27001"])
    ResidencyRuleFactory(region=eu, effect=RuleEffect.ALLOW, location_pattern="eu-*", reason="GDPR: EU only")
    ResidencyRuleFactory(region=eu, organization=organization, location_pattern="eu-west", reason="Private rule")
    ResidencyRuleFactory(region=eu, location_pattern="eu-north", reason="Retired", is_active=False)
    RegionFactory(code="us-east")
    RegionFactory(code="ap-southeast", status=RegionStatus.STANDBY)


def test_every_signed_in_person_sees_the_regions_with_their_certifications_and_rules(owner_client, regions):
    response = owner_client.get("/api/v1/regions/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["code"] for r in rows] == ["ap-southeast", "eu-west", "us-east"]
    eu = rows[1]
    assert eu["certifications"] == ["GDPR", "ISO 27001"]
    assert eu["accepts_organizations"] is True
    # Only region-wide, active rules: another organization's own rule is none of the caller's business.
    assert eu["residency_rules"] == [{"effect": "allow", "location_pattern": "eu-*", "reason": "GDPR: EU only"}]
    assert rows[0]["accepts_organizations"] is False


def test_regions_can_be_filtered_by_status(owner_client, regions):
    response = owner_client.get("/api/v1/regions/?status=standby")

    assert [r["code"] for r in response.json()["results"]] == ["ap-southeast"]


def test_an_unknown_status_filter_is_a_validation_problem(owner_client, regions):
    response = owner_client.get("/api/v1/regions/?status=exploded")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


def test_listing_regions_takes_a_constant_number_of_queries(owner_client, regions, django_assert_max_num_queries):
    for n in range(10):
        ResidencyRuleFactory(region=RegionFactory(code=f"xx-extra{n}"))

    with django_assert_max_num_queries(3):
        response = owner_client.get("/api/v1/regions/?page_size=50")

    assert len(response.json()["results"]) == 13


def test_the_list_needs_a_signed_in_principal(api_client, regions):
    response = api_client.get("/api/v1/regions/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
