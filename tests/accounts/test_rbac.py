"""Hierarchical RBAC: team roles inherited down nested teams, object grants, one check, and who-can-do-what."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services
from apps.accounts.models import Membership
from apps.accounts.permissions import role_of, user_can
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import MembershipFactory, TeamFactory, TeamMembershipFactory


def _fresh(user):
    """The same person without per-request caches (as the next request would see them)."""
    return type(user).objects.get(pk=user.pk)


def test_a_role_on_a_team_applies_to_members_of_its_nested_teams(organization):
    # given Engineering (developer) > Platform > SRE, and a viewer in SRE
    engineering = TeamFactory(organization=organization, role=Role.DEVELOPER)
    platform = TeamFactory(organization=organization, parent=engineering)
    sre = TeamFactory(organization=organization, parent=platform)
    viewer = MembershipFactory(organization=organization, role=Role.VIEWER)
    TeamMembershipFactory(team=sre, membership=viewer)
    # then
    assert role_of(viewer.user, organization) == Role.DEVELOPER
    assert user_can(viewer.user, "connectors.manage", organization)
    assert not user_can(viewer.user, "members.manage", organization)


def test_a_team_role_never_lowers_a_members_own_role(organization):
    team = TeamFactory(organization=organization, role=Role.VIEWER)
    admin = MembershipFactory(organization=organization, role=Role.ADMIN)
    TeamMembershipFactory(team=team, membership=admin)

    assert role_of(admin.user, organization) == Role.ADMIN


def test_a_team_role_does_not_reach_teams_outside_its_subtree(organization):
    TeamFactory(organization=organization, role=Role.ADMIN)
    sibling = TeamFactory(organization=organization)
    viewer = MembershipFactory(organization=organization, role=Role.VIEWER)
    TeamMembershipFactory(team=sibling, membership=viewer)

    assert role_of(viewer.user, organization) == Role.VIEWER


def test_a_suspended_membership_grants_nothing(organization):
    admin = MembershipFactory(organization=organization, role=Role.ADMIN, is_active=False)

    assert role_of(admin.user, organization) is None
    assert not user_can(admin.user, "organization.view", organization)


def test_an_object_role_grants_the_roles_permissions_on_that_object_only(organization, owner):
    # given a viewer made operator-like "manager" on one team only
    viewer = MembershipFactory(organization=organization, role=Role.VIEWER).user
    mine, other = TeamFactory(organization=organization), TeamFactory(organization=organization)
    # when
    granted = services.grant_object_role(user=viewer, role=Role.ADMIN, obj=mine, actor=owner)
    # then
    assert "teams.manage" in granted
    viewer = _fresh(viewer)
    assert user_can(viewer, "teams.manage", organization, obj=mine)
    assert not user_can(_fresh(viewer), "teams.manage", organization, obj=other)
    assert not user_can(_fresh(viewer), "teams.manage", organization)
    assert AuditEvent.objects.filter(action="accounts.object_permission_granted", target_id=str(mine.pk)).exists()


def test_the_api_uses_the_same_check_for_object_grants(organization, owner, api_client):
    # given
    viewer = MembershipFactory(organization=organization, role=Role.VIEWER).user
    mine, other = TeamFactory(organization=organization), TeamFactory(organization=organization)
    services.grant_object_role(user=viewer, role=Role.ADMIN, obj=mine, actor=owner)
    api_client.force_authenticate(_fresh(viewer))
    # when
    allowed = api_client.patch(f"/api/v1/teams/{mine.pk}/", {"description": "ours"})
    refused = api_client.patch(f"/api/v1/teams/{other.pk}/", {"description": "theirs"})
    # then
    assert allowed.status_code == 200
    assert refused.status_code == 403


def test_giving_a_team_a_role_above_your_own_is_refused(organization, make_member, owner_client):
    admin = make_member(organization, Role.ADMIN)
    team = TeamFactory(organization=organization)
    client = owner_client
    client.force_authenticate(admin)

    response = client.patch(f"/api/v1/teams/{team.pk}/", {"role": "owner"})

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "role_too_high"


def test_an_owner_sets_a_team_role_through_the_api_and_it_is_audited(organization, owner_client):
    team = TeamFactory(organization=organization)

    response = owner_client.patch(f"/api/v1/teams/{team.pk}/", {"role": "operator"})

    assert response.status_code == 200
    assert response.json()["role"] == "operator"
    assert AuditEvent.objects.filter(action="accounts.team_updated", data__role="operator").exists()


def test_the_access_endpoint_lists_who_can_do_what_on_an_object_and_why(
    organization, owner, owner_client, django_assert_max_num_queries
):
    # given
    parent = TeamFactory(organization=organization, name="Engineering", role=Role.DEVELOPER)
    child = TeamFactory(organization=organization, parent=parent)
    inherited = MembershipFactory(organization=organization, role=Role.VIEWER)
    TeamMembershipFactory(team=child, membership=inherited)
    granted = MembershipFactory(organization=organization, role=Role.VIEWER)
    services.grant_object_permission(user=granted.user, perm="teams.manage", obj=child, actor=owner)
    MembershipFactory.create_batch(5, organization=organization, role=Role.VIEWER)
    # when
    with django_assert_max_num_queries(12):
        response = owner_client.get(f"/api/v1/access/?object_type=accounts.team&object_id={child.pk}")
    # then
    assert response.status_code == 200
    rows = {row["user"]["email"]: row for row in response.json()}
    assert "teams.manage" in rows[owner.email]["permissions"]
    assert rows[inherited.user.email]["effective_role"] == "developer"
    assert "team Engineering: Developer" in rows[inherited.user.email]["sources"]
    assert rows[granted.user.email]["granted"] == ["teams.manage"]
    assert "object grant" in rows[granted.user.email]["sources"]
    assert len(rows) == 8  # the owner, the two above and five viewers: everyone can at least view teams


def test_the_access_endpoint_answers_404_for_another_organizations_object(owner_client, other_organization):
    foreign = TeamFactory(organization=other_organization)

    response = owner_client.get(f"/api/v1/access/?object_type=accounts.team&object_id={foreign.pk}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "query", ["", "?object_type=accounts.team", "?object_type=nope&object_id=1", "?object_type=auth.user&object_id=1"]
)
def test_the_access_endpoint_refuses_bad_queries(owner_client, query):
    response = owner_client.get(f"/api/v1/access/{query}")

    assert response.status_code in (400, 404)
    assert response["Content-Type"] == "application/problem+json"


def test_a_viewer_cannot_review_access(organization, api_client, make_member):
    team = TeamFactory(organization=organization)
    api_client.force_authenticate(make_member(organization, Role.VIEWER))

    response = api_client.get(f"/api/v1/access/?object_type=accounts.team&object_id={team.pk}")

    assert response.status_code == 403


def test_the_access_page_shows_the_same_answer(organization, owner, django_assert_max_num_queries):
    team = TeamFactory(organization=organization, name="Payments")
    MembershipFactory.create_batch(5, organization=organization, role=Role.VIEWER)
    client = Client()
    client.force_login(owner)

    with django_assert_max_num_queries(14):
        response = client.get(f"/account/organization/access/accounts.team/{team.pk}/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "Who can do what on Payments" in body
    assert "teams.manage" in body
    assert Membership.objects.filter(organization=organization).count() == 6


def test_an_owner_creates_a_team_with_a_role_on_the_organization_page(organization, owner):
    client = Client()
    client.force_login(owner)

    response = client.post("/account/organization/teams/", {"name": "Operations", "role": "operator"})

    assert response.status_code == 302
    team = organization.teams.get(name="Operations")
    assert team.role == Role.OPERATOR
    assert "Operator for members and sub-teams" in client.get("/account/organization/").content.decode()


def test_an_admin_cannot_create_a_team_with_the_owner_role(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, Role.ADMIN))

    response = client.post("/account/organization/teams/", {"name": "Sneaky", "role": "owner"})

    assert response.status_code == 400
    assert not organization.teams.filter(name="Sneaky").exists()
