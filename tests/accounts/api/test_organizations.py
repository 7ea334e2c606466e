import pytest

from apps.accounts.models import Membership, Organization
from apps.regions.models import DirectoryEntry, RegionStatus
from apps.security.models import AuditEvent
from tests.factories.accounts import OrganizationFactory
from tests.factories.regions import RegionFactory


@pytest.fixture(autouse=True)
def regions(db):
    """New organizations are homed in active regions only."""
    RegionFactory(code="us-east")
    RegionFactory(code="eu-west")
    RegionFactory(code="ap-southeast", status=RegionStatus.STANDBY)


def test_i_see_only_the_organizations_i_belong_to(owner_client, organization, other_organization):
    response = owner_client.get("/api/v1/organizations/")

    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [str(organization.pk)]


def test_listing_organizations_takes_a_constant_number_of_queries(owner_client, owner, django_assert_max_num_queries):
    for _ in range(5):
        Membership.objects.create(user=owner, organization=OrganizationFactory(), role="viewer")

    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/v1/organizations/")

    assert len(response.json()["results"]) == 6


@pytest.mark.django_db
def test_creating_an_organization_makes_me_its_owner_and_is_audited(api_client, user):
    # given
    api_client.force_authenticate(user)
    # when
    response = api_client.post("/api/v1/organizations/", {"name": "Initech", "home_region_code": "eu-west"})
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["role"], body["home_region_code"]) == ("initech", "owner", "eu-west")
    organization = Organization.objects.get(pk=body["id"])
    assert Membership.objects.get(organization=organization).user == user
    assert AuditEvent.objects.filter(chain=str(organization.pk), action="accounts.organization_created").exists()
    assert DirectoryEntry.objects.get(key=str(organization.pk)).region_code == "eu-west"


@pytest.mark.parametrize("code", ["ap-southeast", "xx-north"])
def test_an_organization_cannot_be_homed_in_a_region_that_is_not_active(api_client, user, code):
    # given
    api_client.force_authenticate(user)
    # when
    response = api_client.post("/api/v1/organizations/", {"name": "Initech", "home_region_code": code})
    # then
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == ("home_region_code", "region_not_available")
    assert "eu-west, us-east" in error["message"]
    assert not Organization.objects.filter(slug="initech").exists()
    assert not DirectoryEntry.objects.exists()


@pytest.mark.django_db
def test_creating_an_organization_with_bad_fields_lists_each_problem(api_client, user):
    api_client.force_authenticate(user)

    response = api_client.post("/api/v1/organizations/", {"name": "", "home_region_code": "Europe!"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "home_region_code"}


def test_a_taken_slug_is_a_conflict(owner_client, organization):
    response = owner_client.post(
        "/api/v1/organizations/", {"name": "Copy", "slug": organization.slug, "home_region_code": "us-east"}
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "slug"


def test_an_owner_renames_the_organization(owner_client, organization):
    response = owner_client.patch(f"/api/v1/organizations/{organization.pk}/", {"name": "Renamed Inc"})

    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.name == "Renamed Inc"
    assert AuditEvent.objects.filter(action="accounts.organization_updated", target_id=str(organization.pk)).exists()


def test_a_viewer_cannot_rename_the_organization(api_client, viewer, organization):
    api_client.force_authenticate(viewer)

    response = api_client.patch(f"/api/v1/organizations/{organization.pk}/", {"name": "Hijacked"})

    assert response.status_code == 403
    organization.refresh_from_db()
    assert organization.name != "Hijacked"
