from apps.accounts.models import Team, TeamMembership
from tests.factories.accounts import MembershipFactory, TeamFactory


def test_an_owner_creates_a_nested_team(owner_client, organization):
    parent = TeamFactory(organization=organization, name="Platform")

    response = owner_client.post("/api/v1/teams/", {"name": "Integrations", "parent": str(parent.pk)})

    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["parent"], body["member_count"]) == ("integrations", str(parent.pk), 0)


def test_a_parent_from_another_organization_is_refused_as_unknown(owner_client, other_organization):
    foreign = TeamFactory(organization=other_organization)

    response = owner_client.post("/api/v1/teams/", {"name": "Sneaky", "parent": str(foreign.pk)})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "parent"
    assert not Team.objects.filter(name="Sneaky").exists()


def test_making_a_team_its_own_ancestor_is_refused(owner_client, organization):
    root = TeamFactory(organization=organization)
    child = TeamFactory(organization=organization, parent=root)

    response = owner_client.patch(f"/api/v1/teams/{root.pk}/", {"parent": str(child.pk)})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "cycle"
    root.refresh_from_db()
    assert root.parent is None


def test_a_team_with_sub_teams_cannot_be_deleted(owner_client, organization):
    root = TeamFactory(organization=organization)
    TeamFactory(organization=organization, parent=root)

    response = owner_client.delete(f"/api/v1/teams/{root.pk}/")

    assert response.status_code == 409
    assert Team.objects.filter(pk=root.pk).exists()


def test_members_are_added_to_and_removed_from_a_team(owner_client, organization):
    team = TeamFactory(organization=organization)
    member = MembershipFactory(organization=organization)

    added = owner_client.post(f"/api/v1/teams/{team.pk}/members/", {"membership": str(member.pk)})
    counted = owner_client.get(f"/api/v1/teams/{team.pk}/").json()["member_count"]
    removed = owner_client.delete(f"/api/v1/teams/{team.pk}/members/{member.pk}/")

    assert (added.status_code, counted, removed.status_code) == (204, 1, 204)
    assert not TeamMembership.objects.filter(team=team).exists()


def test_a_member_of_another_organization_cannot_be_added(owner_client, organization, other_organization):
    team = TeamFactory(organization=organization)
    stranger = MembershipFactory(organization=other_organization)

    response = owner_client.post(f"/api/v1/teams/{team.pk}/members/", {"membership": str(stranger.pk)})

    assert response.status_code == 400
    assert not TeamMembership.objects.exists()


def test_listing_teams_takes_a_constant_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    root = TeamFactory(organization=organization)
    for _ in range(8):
        TeamFactory(organization=organization, parent=root)

    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/v1/teams/")

    assert len(response.json()["results"]) == 9


def test_top_level_teams_can_be_filtered(owner_client, organization):
    root = TeamFactory(organization=organization)
    TeamFactory(organization=organization, parent=root)

    response = owner_client.get("/api/v1/teams/?root=true")

    assert [t["id"] for t in response.json()["results"]] == [str(root.pk)]


def test_a_viewer_can_read_teams_but_not_create_them(api_client, viewer, organization):
    TeamFactory(organization=organization)
    api_client.force_authenticate(viewer)

    listed = api_client.get("/api/v1/teams/")
    created = api_client.post("/api/v1/teams/", {"name": "Mine"})

    assert (listed.status_code, created.status_code) == (200, 403)


def test_an_object_grant_lets_a_viewer_manage_that_one_team_only(api_client, owner, viewer, organization):
    # given
    from apps.accounts.services import grant_object_permission

    granted, other = TeamFactory(organization=organization), TeamFactory(organization=organization)
    grant_object_permission(user=viewer, perm="teams.manage", obj=granted, actor=owner)
    api_client.force_authenticate(viewer)
    # when
    allowed = api_client.patch(f"/api/v1/teams/{granted.pk}/", {"description": "ours now"})
    refused = api_client.patch(f"/api/v1/teams/{other.pk}/", {"description": "not ours"})
    # then
    assert (allowed.status_code, refused.status_code) == (200, 403)
