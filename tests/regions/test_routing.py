"""A request for an organization homed in another region is sent there, never served here."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.core.problems import Problem
from apps.regions.routing import ensure_served_here
from tests.factories.accounts import MembershipFactory, OrganizationFactory
from tests.factories.regions import DirectoryEntryFactory, RegionFactory

pytestmark = pytest.mark.django_db

EU = "https://eu-west.nofx.example"


@pytest.fixture(autouse=True)
def regions():
    RegionFactory(code="us-east", public_url="https://us-east.nofx.example")
    RegionFactory(code="eu-west", public_url=EU)


@pytest.fixture
def globex_elsewhere():
    """An organization this region knows only from the replicated directory."""
    return DirectoryEntryFactory(slug="globex", region_code="eu-west")


def test_a_page_of_a_foreign_organization_redirects_to_its_region_with_the_same_path(client, globex_elsewhere):
    response = client.get("/orgs/globex/?next=%2Fdashboard%2F")

    assert response.status_code == 302
    assert response["Location"] == f"{EU}/orgs/globex/?next=%2Fdashboard%2F"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_a_non_get_page_request_keeps_its_method_with_a_307(client, globex_elsewhere, method):
    response = getattr(client, method)("/orgs/globex/")

    assert response.status_code == 307
    assert response["Location"] == f"{EU}/orgs/globex/"


def test_an_api_call_for_a_foreign_organization_gets_a_307_problem_naming_the_region(globex_elsewhere):
    client = APIClient()

    response = client.get("/api/v1/teams/?page_size=5", HTTP_X_ORGANIZATION="globex")

    assert response.status_code == 307
    assert response["Content-Type"] == "application/problem+json"
    location = f"{EU}/api/v1/teams/?page_size=5"
    assert response["Location"] == location
    body = response.json()
    assert body["type"].endswith("/region-redirect")
    assert (body["status"], body["region"], body["location"]) == (307, "eu-west", location)


def test_an_api_write_for_a_foreign_organization_is_not_applied_here(globex_elsewhere, owner, organization):
    client = APIClient()
    client.force_login(owner)

    response = client.post("/api/v1/teams/", {"name": "Sneaky"}, format="json", HTTP_X_ORGANIZATION="globex")

    assert response.status_code == 307
    assert not organization.teams.exists()


def test_an_organization_homed_here_is_served_here(client, owner, organization):
    # given a member of a local organization
    client.force_login(owner)
    # when
    response = client.get(f"/orgs/{organization.slug}/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert client.session["active_organization_id"] == str(organization.pk)


def test_the_entry_link_of_an_organization_i_do_not_belong_to_is_not_found(client, user, organization):
    client.force_login(user)

    assert client.get(f"/orgs/{organization.slug}/").status_code == 404
    assert client.get("/orgs/no-such-organization/").status_code == 404


def test_a_signed_in_person_whose_organization_lives_elsewhere_is_sent_there(client, user):
    # given an organization row that this region holds but no longer serves (e.g. it was moved)
    moved = OrganizationFactory(home_region_code="eu-west")
    MembershipFactory(user=user, organization=moved, role=Role.OWNER)
    client.force_login(user)
    # when
    page = client.get("/dashboard/")
    api = client.get("/api/v1/me/")
    # then
    assert (page.status_code, page["Location"]) == (302, f"{EU}/dashboard/")
    assert (api.status_code, api["Location"]) == (307, f"{EU}/api/v1/me/")


def test_an_organization_of_a_region_this_region_does_not_know_is_refused_not_served(client):
    DirectoryEntryFactory(slug="lost", region_code="xx-unknown")

    page = client.get("/orgs/lost/")
    api = APIClient().get("/api/v1/teams/", HTTP_X_ORGANIZATION="lost")

    assert page.status_code == 503
    assert b"xx-unknown" in page.content
    assert api.status_code == 503
    assert api.json()["region"] == "xx-unknown"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/admin/login/", "/api/v1/regions/"])
def test_operational_paths_are_served_by_every_region(client, globex_elsewhere, path):
    response = client.get(path, HTTP_X_ORGANIZATION="globex")

    assert response.status_code not in (302, 307)


def test_the_replication_inbox_is_never_redirected(client, globex_elsewhere):
    response = client.post("/regions/replication/", b"{}", content_type="application/json")

    assert response.status_code == 401


def test_an_unknown_slug_is_left_to_the_view(client, user):
    client.force_login(user)

    assert client.get("/api/v1/teams/", HTTP_X_ORGANIZATION="nobody").status_code == 200


def test_ensure_served_here_lets_local_organizations_through_and_redirects_foreign_ones(rf, organization):
    request = rf.get("/api/v1/teams/?x=1")
    ensure_served_here(request, organization)

    foreign = OrganizationFactory(home_region_code="eu-west")
    with pytest.raises(Problem) as redirected:
        ensure_served_here(request, foreign)
    assert redirected.value.status_code == 307
    assert redirected.value.headers == {"Location": f"{EU}/api/v1/teams/?x=1"}
    assert redirected.value.extra["region"] == "eu-west"
