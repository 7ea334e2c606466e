from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import MembershipFactory, TeamFactory, TeamMembershipFactory


def test_members_are_listed_with_their_roles_and_teams_in_constant_queries(
    owner_client, organization, django_assert_max_num_queries
):
    # given
    team = TeamFactory(organization=organization)
    for _ in range(6):
        TeamMembershipFactory(team=team, membership=MembershipFactory(organization=organization))
    # when
    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/memberships/")
    # then
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 7
    assert sum(1 for m in results if str(team.pk) in m["team_ids"]) == 6


def test_members_can_be_filtered_by_role(owner_client, organization):
    MembershipFactory(organization=organization, role=Role.OPERATOR)

    response = owner_client.get("/api/v1/memberships/?role=operator")

    assert [m["role"] for m in response.json()["results"]] == ["operator"]


def test_an_unknown_role_filter_is_a_400_naming_the_field(owner_client):
    response = owner_client.get("/api/v1/memberships/?role=emperor")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"


def test_an_admin_changes_a_members_role_and_it_is_audited(api_client, admin_user, organization):
    member = MembershipFactory(organization=organization, role=Role.VIEWER)
    api_client.force_authenticate(admin_user)

    response = api_client.patch(f"/api/v1/memberships/{member.pk}/", {"role": "developer"})

    assert response.status_code == 200
    assert response.json()["role"] == "developer"
    event = AuditEvent.objects.get(action="accounts.member_role_changed")
    assert event.data == {"user_id": str(member.user_id), "from": "viewer", "to": "developer"}


def test_an_admin_cannot_make_someone_an_owner(api_client, admin_user, organization):
    member = MembershipFactory(organization=organization, role=Role.VIEWER)
    api_client.force_authenticate(admin_user)

    response = api_client.patch(f"/api/v1/memberships/{member.pk}/", {"role": "owner"})

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "role_too_high"
    member.refresh_from_db()
    assert member.role == Role.VIEWER


def test_the_last_owner_cannot_be_demoted(owner_client, owner, organization, membership_of):
    membership = membership_of(owner, organization)

    response = owner_client.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "admin"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "last_owner"


def test_a_viewer_cannot_change_roles(api_client, viewer, organization):
    member = MembershipFactory(organization=organization, role=Role.VIEWER)
    api_client.force_authenticate(viewer)

    response = api_client.patch(f"/api/v1/memberships/{member.pk}/", {"role": "admin"})

    assert response.status_code == 403


def test_removing_a_member_deletes_the_membership(owner_client, organization):
    member = MembershipFactory(organization=organization, role=Role.DEVELOPER)

    response = owner_client.delete(f"/api/v1/memberships/{member.pk}/")

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action="accounts.member_removed", target_id=str(member.pk)).exists()
