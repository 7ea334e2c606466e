"""SCIM 2.0 for identity providers: /scim/v2/Users (members) and /scim/v2/Groups (teams), per-organization tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services
from apps.accounts.models import Membership, ScimToken, Team, TeamMembership, User
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import MembershipFactory, TeamFactory

SCIM = "application/scim+json"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(organization, owner):
    _token, raw = services.create_scim_token(organization=organization, actor=owner, name="Okta")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _post(client: Client, path: str, body: dict):
    return client.post(path, body, content_type=SCIM)


def _patch(client: Client, path: str, operations: list[dict]):
    return client.patch(path, {"schemas": [PATCH], "Operations": operations}, content_type=SCIM)


def test_the_token_is_stored_hashed_and_recognisable(organization, owner):
    token, raw = services.create_scim_token(organization=organization, actor=owner, name="Okta")

    assert raw.startswith("nofx_scim_")
    assert raw not in token.token_hash
    assert ScimToken.objects.filter(token_hash=services.hash_token(raw)).exists()


def test_an_idp_creates_a_member_and_finds_them_by_username(scim, organization):
    # when
    created = _post(
        scim,
        "/scim/v2/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Dana@Acme.test",
            "externalId": "00u1",
            "name": {"givenName": "Dana", "familyName": "Scully"},
            "active": True,
        },
    )
    found = scim.get('/scim/v2/Users?filter=userName eq "dana@acme.test"')
    # then
    assert created.status_code == 201
    assert created["Content-Type"] == SCIM
    body = created.json()
    assert (body["userName"], body["externalId"], body["active"]) == ("dana@acme.test", "00u1", True)
    assert created["Location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == body["id"]
    membership = Membership.objects.get(pk=body["id"])
    assert (membership.organization, membership.role) == (organization, Role.VIEWER)
    assert AuditEvent.objects.filter(action="accounts.member_provisioned", actor_type="scim_token").exists()


def test_creating_an_existing_member_is_a_uniqueness_conflict(scim, organization):
    member = MembershipFactory(organization=organization).user

    response = _post(scim, "/scim/v2/Users", {"userName": member.email})

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


@pytest.mark.parametrize("body", [{}, {"userName": "not-an-email"}, {"userName": "a@b.test", "active": "maybe"}])
def test_bad_user_bodies_are_refused_with_scim_errors(scim, body):
    response = _post(scim, "/scim/v2/Users", body)

    assert response.status_code == 400
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_users_are_paginated_with_start_index_and_count(scim, organization, django_assert_max_num_queries):
    # given
    MembershipFactory.create_batch(7, organization=organization)
    # when
    with django_assert_max_num_queries(6):
        page = scim.get("/scim/v2/Users?startIndex=3&count=2").json()
    # then (the owner from the fixture makes 8)
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (8, 3, 2)


def test_an_unsupported_filter_is_refused(scim):
    response = scim.get('/scim/v2/Users?filter=title co "x"')

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"


def test_deprovisioning_with_patch_active_false_deactivates_the_member_at_once(scim, organization):
    # given a member signed in elsewhere
    person = MembershipFactory(organization=organization, role=Role.DEVELOPER).user
    browser = Client()
    browser.force_login(person)
    membership = Membership.objects.get(user=person, organization=organization)
    # when the IdP deprovisions them
    response = _patch(scim, f"/scim/v2/Users/{membership.pk}", [{"op": "replace", "value": {"active": False}}])
    # then
    assert response.status_code == 200
    assert response.json()["active"] is False
    membership.refresh_from_db()
    person.refresh_from_db()
    assert membership.is_active is False
    assert person.is_active is False
    assert browser.get("/api/v1/teams/").status_code == 401
    assert AuditEvent.objects.filter(action="accounts.member_suspended", target_id=str(membership.pk)).exists()


def test_delete_deprovisions_and_keeps_the_history(scim, organization):
    membership = MembershipFactory(organization=organization)

    response = scim.delete(f"/scim/v2/Users/{membership.pk}")

    assert response.status_code == 204
    membership.refresh_from_db()
    assert membership.is_active is False
    assert User.objects.filter(pk=membership.user_id).exists()


def test_a_member_of_two_organizations_keeps_their_other_one(scim, organization, other_organization):
    # given
    membership = MembershipFactory(organization=organization)
    MembershipFactory(organization=other_organization, user=membership.user)
    # when
    scim.delete(f"/scim/v2/Users/{membership.pk}")
    # then their account stays active for the other organization
    membership.user.refresh_from_db()
    assert membership.user.is_active is True
    assert not Membership.objects.get(pk=membership.pk).is_active


def test_reactivating_a_member_restores_access(scim, organization):
    membership = MembershipFactory(organization=organization)
    scim.delete(f"/scim/v2/Users/{membership.pk}")

    response = _patch(scim, f"/scim/v2/Users/{membership.pk}", [{"op": "replace", "path": "active", "value": True}])

    assert response.json()["active"] is True
    membership.user.refresh_from_db()
    assert membership.user.is_active


def test_put_replaces_name_and_external_id_but_not_the_username(scim, organization):
    membership = MembershipFactory(organization=organization)
    url = f"/scim/v2/Users/{membership.pk}"

    changed = scim.put(
        url, {"userName": membership.user.email, "displayName": "New Name", "externalId": "x9"}, content_type=SCIM
    )
    refused = scim.put(url, {"userName": "other@example.com"}, content_type=SCIM)

    assert (changed.json()["displayName"], changed.json()["externalId"]) == ("New Name", "x9")
    assert refused.status_code == 400
    assert refused.json()["scimType"] == "mutability"


def test_groups_are_teams_with_members(scim, organization):
    # given
    alice = MembershipFactory(organization=organization)
    bob = MembershipFactory(organization=organization)
    # when
    created = _post(
        scim, "/scim/v2/Groups", {"displayName": "Support", "externalId": "g1", "members": [{"value": str(alice.pk)}]}
    )
    group_id = created.json()["id"]
    added = _patch(
        scim, f"/scim/v2/Groups/{group_id}", [{"op": "add", "path": "members", "value": [{"value": str(bob.pk)}]}]
    )
    removed = _patch(scim, f"/scim/v2/Groups/{group_id}", [{"op": "remove", "path": f'members[value eq "{alice.pk}"]'}])
    renamed = _patch(scim, f"/scim/v2/Groups/{group_id}", [{"op": "replace", "path": "displayName", "value": "Help"}])
    # then
    assert created.status_code == 201
    assert len(added.json()["members"]) == 2
    assert [m["value"] for m in removed.json()["members"]] == [str(bob.pk)]
    assert renamed.json()["displayName"] == "Help"
    team = Team.objects.get(pk=group_id)
    assert (team.name, team.external_id, team.organization) == ("Help", "g1", organization)
    assert list(TeamMembership.objects.filter(team=team).values_list("membership_id", flat=True)) == [bob.pk]
    assert scim.get('/scim/v2/Groups?filter=displayName eq "help"').json()["totalResults"] == 1
    assert scim.delete(f"/scim/v2/Groups/{group_id}").status_code == 204


def test_a_foreign_organizations_objects_are_not_found(scim, other_organization):
    foreign_member = MembershipFactory(organization=other_organization)
    foreign_team = TeamFactory(organization=other_organization)

    assert scim.get(f"/scim/v2/Users/{foreign_member.pk}").status_code == 404
    assert scim.delete(f"/scim/v2/Users/{foreign_member.pk}").status_code == 404
    assert scim.get(f"/scim/v2/Groups/{foreign_team.pk}").status_code == 404
    refused = _post(scim, "/scim/v2/Groups", {"displayName": "X", "members": [{"value": str(foreign_member.pk)}]})
    assert refused.status_code == 400
    assert str(foreign_member.pk) not in scim.get("/scim/v2/Users").content.decode()


@pytest.mark.parametrize("header", ["", "Bearer nofx_scim_wrong", "Basic abc"])
def test_a_missing_or_wrong_token_answers_401(db, header):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()

    response = client.get("/scim/v2/Users")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="scim"'


def test_a_revoked_token_stops_working(organization, owner):
    token, raw = services.create_scim_token(organization=organization, actor=owner, name="Okta")
    services.revoke_scim_token(token=token, actor=owner)

    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/scim/v2/Users").status_code == 401


def test_a_patch_without_the_patchop_schema_is_refused(scim, organization):
    membership = MembershipFactory(organization=organization)

    response = scim.patch(f"/scim/v2/Users/{membership.pk}", {"Operations": []}, content_type=SCIM)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
