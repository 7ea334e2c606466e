import pytest

from apps.accounts.roles import Role
from tests.factories.accounts import MembershipFactory, OrganizationFactory


@pytest.mark.django_db
def test_an_anonymous_caller_gets_401_as_a_problem_document(api_client):
    response = api_client.get("/api/v1/me/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["instance"] == "/api/v1/me/"
    assert body["type"].endswith("/not-authenticated")


def test_me_lists_my_organizations_with_my_role_and_the_active_one(owner_client, owner, organization):
    # given a second organization where the owner is only a viewer
    other = OrganizationFactory(name="Another")
    MembershipFactory(user=owner, organization=other, role=Role.VIEWER)
    # when
    response = owner_client.get("/api/v1/me/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == owner.email
    assert {(o["slug"], o["role"]) for o in body["organizations"]} == {
        (organization.slug, "owner"),
        (other.slug, "viewer"),
    }
    assert body["active_organization"] == str(organization.pk)


def test_the_organization_header_chooses_which_organization_the_request_acts_for(owner_client, owner):
    other = OrganizationFactory(slug="second-org")
    MembershipFactory(user=owner, organization=other, role=Role.VIEWER)

    response = owner_client.get("/api/v1/me/", HTTP_X_ORGANIZATION="second-org")

    assert response.json()["active_organization"] == str(other.pk)


def test_an_organization_header_naming_a_foreign_organization_acts_for_none(owner_client, other_organization):
    response = owner_client.get("/api/v1/me/", HTTP_X_ORGANIZATION=other_organization.slug)

    assert response.json()["active_organization"] is None


def test_i_can_change_my_name_but_not_my_email(owner_client, owner):
    response = owner_client.patch("/api/v1/me/", {"full_name": "Ada Lovelace", "email": "evil@example.com"})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.full_name == "Ada Lovelace"
    assert owner.email != "evil@example.com"
