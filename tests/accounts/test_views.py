"""The account pages: profile, organizations, members, teams, invitations, and allauth's pages in our frame."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape

import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Invitation, Membership, Organization, Team
from apps.accounts.roles import Role
from apps.accounts.tenancy import SESSION_KEY
from apps.core.exceptions import BusinessRuleViolation
from tests.factories.accounts import (
    InvitationFactory,
    MembershipFactory,
    OrganizationFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)

INVALID = "INVALID_TEMPLATE_VARIABLE"


def _page(response, status=200) -> str:
    """The body of a rendered page (whitespace runs squashed to one space), after checking its status and
    that every template variable resolved."""
    assert response.status_code == status, response.content.decode()[:2000]
    body = response.content.decode()
    assert INVALID not in body
    return re.sub(r"\s+", " ", body)


def _field_errors(body: str, field_id: str) -> list[str]:
    """The error messages shown right after the field with this id."""
    match = re.search(rf'<ul class="errorlist" id="{re.escape(field_id)}_error"[^>]*>(.*?)</ul>', body)
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


# -- Account home ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_account_pages_ask_visitors_to_sign_in(client):
    for path in ("/account/", "/account/organization/", "/account/organizations/new/"):
        response = client.get(path)

        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_the_account_home_lists_your_organizations_with_your_role(client, owner, organization):
    # given
    other = MembershipFactory(user=owner, role=Role.VIEWER, organization__name="Beta Freight").organization
    client.force_login(owner)
    # when
    body = _page(client.get("/account/"))
    # then
    assert f"{organization.name} <span" in body
    assert "Beta Freight <span" in body
    assert '<span class="badge badge--accent">Owner</span>' in body
    assert '<span class="badge badge--accent">Viewer</span>' in body
    assert f'<input type="hidden" name="organization" value="{other.pk}">' in body
    assert '<label for="id_full_name">' in body
    assert '<label for="id_name">' in body


@pytest.mark.django_db
def test_the_account_home_needs_the_same_queries_however_many_organizations_you_have(
    client, owner, django_assert_max_num_queries
):
    # given
    MembershipFactory.create_batch(12, user=owner)
    client.force_login(owner)
    # when / then
    with django_assert_max_num_queries(5):
        _page(client.get("/account/"))


@pytest.mark.django_db
def test_you_can_change_your_name(client, owner):
    client.force_login(owner)

    response = client.post("/account/profile/", {"full_name": "Grace Hopper"})

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.full_name == "Grace Hopper"


@pytest.mark.django_db
def test_a_name_that_is_too_long_is_refused_next_to_the_field(client, owner):
    client.force_login(owner)

    body = _page(client.post("/account/profile/", {"full_name": "x" * 151}), status=400)

    assert _field_errors(body, "id_full_name") == ["Ensure this value has at most 150 characters (it has 151)."]
    assert 'aria-invalid="true"' in body
    header = body.split("<main")[0]
    assert owner.get_full_name() in header
    assert "x" * 151 not in header


@pytest.mark.django_db
def test_switching_organization_makes_it_active_for_the_next_pages(client, owner):
    # given
    second = MembershipFactory(user=owner, role=Role.ADMIN).organization
    client.force_login(owner)
    # when
    response = client.post("/account/switch-organization/", {"organization": str(second.pk), "next": "/account/"})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert client.session[SESSION_KEY] == str(second.pk)
    assert f"<h1>{second.name}</h1>" in _page(client.get("/dashboard/"))


@pytest.mark.django_db
def test_you_cannot_switch_to_an_organization_you_do_not_belong_to(client, owner, organization, other_organization):
    client.force_login(owner)

    response = client.post("/account/switch-organization/", {"organization": str(other_organization.pk)})

    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    assert "You are not a member of that organization." in _page(client.get(response["Location"]))


@pytest.mark.django_db
def test_switching_never_redirects_to_another_site(client, owner, organization):
    client.force_login(owner)

    response = client.post(
        "/account/switch-organization/", {"organization": str(organization.pk), "next": "https://evil.example/"}
    )

    assert response["Location"] == "/dashboard/"


# -- Creating an organization ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_an_organization_makes_you_its_owner_and_its_active_organization(client, user, active_regions):
    # given
    client.force_login(user)
    # when
    response = client.post(
        "/account/organizations/new/", {"name": "Acme Logistics", "slug": "", "home_region_code": "eu-west"}
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/organization/"
    organization = Organization.objects.get(slug="acme-logistics")
    assert organization.home_region_code == "eu-west"
    assert Membership.objects.get(organization=organization, user=user).role == Role.OWNER
    assert client.session[SESSION_KEY] == str(organization.pk)


@pytest.mark.django_db
def test_the_new_organization_form_offers_this_region_by_default(client, user, settings):
    client.force_login(user)

    body = _page(client.get("/account/organizations/new/"))

    assert f'value="{settings.REGION_CODE}"' in body


@pytest.mark.django_db
def test_a_taken_short_name_is_refused_next_to_the_field(client, user, organization):
    client.force_login(user)

    body = _page(
        client.post(
            "/account/organizations/new/",
            {"name": "Another", "slug": organization.slug, "home_region_code": "us-east"},
        ),
        status=400,
    )

    assert _field_errors(body, "id_slug") == ["That short name is taken."]
    assert not Organization.objects.filter(name="Another").exists()


@pytest.mark.django_db
def test_a_malformed_region_is_refused_next_to_the_field(client, user):
    client.force_login(user)

    body = _page(
        client.post("/account/organizations/new/", {"name": "Acme", "home_region_code": "Mars Base"}), status=400
    )

    assert _field_errors(body, "id_home_region_code") == ["A region code looks like `eu-west` or `us-east`."]


@pytest.mark.django_db
def test_a_refusal_from_the_service_is_shown_on_the_form(client, user, monkeypatch):
    # given the service refuses for a reason about a field the form has, then for one it has not
    def refuse(**kwargs):
        raise BusinessRuleViolation("That slug is reserved.", field="slug", code="reserved")

    monkeypatch.setattr(services, "create_organization", refuse)
    client.force_login(user)
    data = {"name": "Acme", "slug": "admin", "home_region_code": "us-east"}
    # when
    body = _page(client.post("/account/organizations/new/", data), status=422)
    # then
    assert _field_errors(body, "id_slug") == ["That slug is reserved."]

    # given
    def refuse_whole(**kwargs):
        raise BusinessRuleViolation("Organizations are closed for maintenance.")

    monkeypatch.setattr(services, "create_organization", refuse_whole)
    # when
    body = _page(client.post("/account/organizations/new/", data), status=422)
    # then
    assert '<div class="alert alert--error" role="alert">' in body
    assert "Organizations are closed for maintenance." in body


# -- The organization page --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_organization_page_sends_people_without_one_to_their_account(client, user):
    client.force_login(user)

    response = client.get("/account/organization/")

    assert response.status_code == 302
    assert response["Location"] == "/account/"


@pytest.mark.django_db
def test_the_organization_page_shows_members_teams_as_a_tree_and_invitations(client, owner, organization):
    # given
    colleague = MembershipFactory(organization=organization, role=Role.DEVELOPER, user__full_name="Linus Tor")
    engineering = TeamFactory(organization=organization, name="Engineering")
    platform = TeamFactory(organization=organization, name="Platform", parent=engineering)
    TeamMembershipFactory(team=platform, membership=colleague)
    InvitationFactory(organization=organization, email="new@example.com", role=Role.OPERATOR, team=platform)
    TeamFactory(organization=OrganizationFactory(), name="Someone Else's Team")
    client.force_login(owner)
    # when
    body = _page(client.get("/account/organization/"))
    # then
    assert "Linus Tor" in body
    assert colleague.user.email in body
    assert f'name="member-{colleague.pk}-role"' in body
    assert "Platform</td>" in body or ">Platform<" in body
    tree = re.search(r'<ul class="tree">(.*)</ul>', body).group(1)
    assert re.search(r"Engineering</span>.*?<ul class=\"tree__children\">.*?Platform</span>", tree)
    assert "Someone Else" not in body
    assert "new@example.com" in body
    assert '<span class="badge badge--info">Pending</span>' in body


@pytest.mark.django_db
def test_viewers_see_members_and_teams_but_cannot_change_them(client, viewer, owner, organization):
    TeamFactory(organization=organization)
    InvitationFactory(organization=organization, email="secret@example.com")
    client.force_login(viewer)

    body = _page(client.get("/account/organization/"))

    assert owner.email in body
    assert "-role" not in body
    assert "Create a team" not in body
    assert "secret@example.com" not in body
    assert 'id="invitations"' not in body
    assert "Save settings" not in body
    assert "Leave" in body


@pytest.mark.django_db
def test_the_organization_page_needs_the_same_queries_however_big_the_organization_is(
    client, owner, organization, django_assert_max_num_queries
):
    # given
    for _ in range(10):
        membership = MembershipFactory(organization=organization)
        team = TeamFactory(organization=organization)
        TeamFactory(organization=organization, parent=team)
        TeamMembershipFactory(team=team, membership=membership)
        InvitationFactory(organization=organization, team=team, invited_by=owner)
    client.force_login(owner)
    # when / then (one of them reads the team tree for roles inherited down nested teams)
    with django_assert_max_num_queries(10):
        _page(client.get("/account/organization/"))


@pytest.mark.django_db
def test_no_element_id_repeats_on_the_account_pages(client, owner, organization):
    # given a page with every form and list filled, and the organization switcher in the header
    MembershipFactory.create_batch(2, organization=organization)
    TeamFactory(organization=organization)
    InvitationFactory(organization=organization)
    MembershipFactory(user=owner)
    client.force_login(owner)
    for path in ("/account/", "/account/organization/", "/account/organizations/new/"):
        # when
        ids = re.findall(r'\sid="([^"]+)"', _page(client.get(path)))
        # then
        assert len(ids) == len(set(ids)), f"{path} repeats {sorted({i for i in ids if ids.count(i) > 1})}"


@pytest.mark.django_db
def test_admins_can_rename_the_organization(client, admin_user, organization):
    client.force_login(admin_user)

    response = client.post("/account/organization/settings/", {"name": "Renamed Ltd"})

    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.name == "Renamed Ltd"


@pytest.mark.django_db
def test_viewers_cannot_rename_the_organization(client, viewer, organization):
    client.force_login(viewer)

    response = client.post("/account/organization/settings/", {"name": "Hijacked"})

    assert response.status_code == 403
    assert INVALID not in response.content.decode()
    organization.refresh_from_db()
    assert organization.name != "Hijacked"


# -- Members ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_owner_changes_a_members_role(client, owner, organization):
    # given
    member = MembershipFactory(organization=organization, role=Role.VIEWER)
    client.force_login(owner)
    # when
    response = client.post(f"/account/organization/members/{member.pk}/role/", {f"member-{member.pk}-role": "admin"})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/organization/#members"
    member.refresh_from_db()
    assert member.role == Role.ADMIN


@pytest.mark.django_db
def test_an_admin_is_not_offered_the_owner_role(client, admin_user, organization):
    # given
    member = MembershipFactory(organization=organization, role=Role.VIEWER)
    client.force_login(admin_user)
    # when
    body = _page(
        client.post(f"/account/organization/members/{member.pk}/role/", {f"member-{member.pk}-role": "owner"}),
        status=400,
    )
    # then
    assert _field_errors(body, f"id_member-{member.pk}-role") == [
        "Select a valid choice. owner is not one of the available choices."
    ]
    member.refresh_from_db()
    assert member.role == Role.VIEWER


@pytest.mark.django_db
def test_a_role_the_service_refuses_is_explained_next_to_that_members_role(client, admin_user, organization):
    # given an owner, whose role an admin may not touch
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    client.force_login(admin_user)
    # when an admin tries to demote an owner by posting directly
    response = client.post(f"/account/organization/members/{owner.pk}/role/", {f"member-{owner.pk}-role": "viewer"})
    # then
    body = _page(response, status=403)
    assert _field_errors(body, f"id_member-{owner.pk}-role") == ["You cannot grant or change a role above your own."]
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


@pytest.mark.django_db
def test_viewers_cannot_change_roles(client, viewer, owner, organization, membership_of):
    client.force_login(viewer)
    target = membership_of(owner, organization)

    response = client.post(f"/account/organization/members/{target.pk}/role/", {f"member-{target.pk}-role": "viewer"})

    assert response.status_code == 403


@pytest.mark.django_db
def test_members_of_another_organization_cannot_be_reached(client, owner, other_organization):
    stranger = MembershipFactory(organization=other_organization, role=Role.VIEWER)
    client.force_login(owner)

    role = client.post(f"/account/organization/members/{stranger.pk}/role/", {f"member-{stranger.pk}-role": "admin"})
    removal = client.post(f"/account/organization/members/{stranger.pk}/remove/")

    assert (role.status_code, removal.status_code) == (404, 404)
    assert Membership.objects.filter(pk=stranger.pk, role=Role.VIEWER).exists()


@pytest.mark.django_db
def test_an_owner_removes_a_member(client, owner, organization):
    member = MembershipFactory(organization=organization, role=Role.DEVELOPER)
    client.force_login(owner)

    response = client.post(f"/account/organization/members/{member.pk}/remove/")

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


@pytest.mark.django_db
def test_the_last_owner_cannot_leave_and_is_told_why_on_their_row(client, owner, organization, membership_of):
    # given
    mine = membership_of(owner, organization)
    client.force_login(owner)
    # when
    body = _page(client.post(f"/account/organization/members/{mine.pk}/remove/"), status=422)
    # then
    message = escape("The organization's last owner cannot leave or be removed.")
    assert f'id="member-{mine.pk}-error" role="alert"> <li>{message}</li>' in body
    assert Membership.objects.filter(pk=mine.pk).exists()


@pytest.mark.django_db
def test_any_member_can_leave(client, viewer, organization, membership_of):
    mine = membership_of(viewer, organization)
    client.force_login(viewer)

    response = client.post(f"/account/organization/members/{mine.pk}/remove/")

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert not Membership.objects.filter(pk=mine.pk).exists()


# -- Teams ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_team_is_created_inside_its_parent(client, admin_user, organization):
    # given
    parent = TeamFactory(organization=organization, name="Engineering")
    client.force_login(admin_user)
    # when
    response = client.post(
        "/account/organization/teams/", {"name": "Platform", "parent": str(parent.pk), "description": ""}
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/organization/#teams"
    assert Team.objects.get(organization=organization, name="Platform").parent == parent


@pytest.mark.django_db
def test_a_team_needs_a_name(client, admin_user):
    client.force_login(admin_user)

    body = _page(client.post("/account/organization/teams/", {"name": "", "parent": ""}), status=400)

    assert _field_errors(body, "team_name") == ["This field is required."]


@pytest.mark.django_db
def test_a_parent_from_another_organization_is_not_accepted(client, admin_user, other_organization):
    foreign = TeamFactory(organization=other_organization)
    client.force_login(admin_user)

    body = _page(client.post("/account/organization/teams/", {"name": "Sneaky", "parent": str(foreign.pk)}), status=400)

    assert _field_errors(body, "team_parent")
    assert not Team.objects.filter(name="Sneaky").exists()


@pytest.mark.django_db
def test_viewers_cannot_create_or_delete_teams(client, viewer, organization):
    team = TeamFactory(organization=organization)
    client.force_login(viewer)

    created = client.post("/account/organization/teams/", {"name": "Mine"})
    deleted = client.post(f"/account/organization/teams/{team.pk}/delete/")

    assert (created.status_code, deleted.status_code) == (403, 403)
    assert Team.objects.filter(organization=organization).count() == 1


@pytest.mark.django_db
def test_a_team_is_deleted(client, owner, organization):
    team = TeamFactory(organization=organization)
    client.force_login(owner)

    response = client.post(f"/account/organization/teams/{team.pk}/delete/")

    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()


@pytest.mark.django_db
def test_a_team_with_sub_teams_is_kept_and_the_reason_shown_beside_it(client, owner, organization):
    # given
    parent = TeamFactory(organization=organization, name="Engineering")
    TeamFactory(organization=organization, parent=parent)
    client.force_login(owner)
    # when
    body = _page(client.post(f"/account/organization/teams/{parent.pk}/delete/"), status=409)
    # then
    message = escape("Move or delete the team's sub-teams first.")
    assert f'id="team-{parent.pk}-error" role="alert"> <li>{message}</li>' in body
    assert Team.objects.filter(pk=parent.pk).exists()


# -- Invitations -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_invites_someone_into_a_team_and_an_email_goes_out(
    client, admin_user, organization, django_capture_on_commit_callbacks
):
    # given
    team = TeamFactory(organization=organization, name="Support")
    client.force_login(admin_user)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/organization/invitations/",
            {"email": "New.Person@Example.com", "role": "operator", "team": str(team.pk)},
        )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/organization/#invitations"
    invitation = Invitation.objects.get(organization=organization)
    assert (invitation.email, invitation.role, invitation.team) == ("new.person@example.com", Role.OPERATOR, team)
    assert [message.to for message in mail.outbox] == [["new.person@example.com"]]


@pytest.mark.django_db
def test_inviting_a_member_again_is_refused_next_to_the_email(client, owner, viewer, organization):
    client.force_login(owner)

    body = _page(
        client.post("/account/organization/invitations/", {"email": viewer.email, "role": "viewer"}), status=409
    )

    assert _field_errors(body, "invite_email") == ["That person is already a member."]


@pytest.mark.django_db
def test_an_admin_cannot_invite_an_owner(client, admin_user):
    client.force_login(admin_user)

    body = _page(
        client.post("/account/organization/invitations/", {"email": "boss@example.com", "role": "owner"}), status=400
    )

    assert _field_errors(body, "invite_role") == ["Select a valid choice. owner is not one of the available choices."]
    assert '<option value="owner"' not in body


@pytest.mark.django_db
def test_viewers_cannot_invite(client, viewer):
    client.force_login(viewer)

    response = client.post("/account/organization/invitations/", {"email": "x@example.com", "role": "viewer"})

    assert response.status_code == 403
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_a_pending_invitation_is_revoked(client, owner, organization):
    invitation = InvitationFactory(organization=organization)
    client.force_login(owner)

    response = client.post(f"/account/organization/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


@pytest.mark.django_db
def test_an_accepted_invitation_cannot_be_revoked_and_the_row_says_why(client, owner, organization):
    # given
    invitation = InvitationFactory(organization=organization, accepted_at=timezone.now())
    client.force_login(owner)
    # when
    response = client.post(f"/account/organization/invitations/{invitation.pk}/revoke/")
    # then
    body = _page(response, status=409)
    assert "The invitation was accepted already." in body
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


@pytest.mark.django_db
def test_the_invitation_email_names_the_organization_the_role_and_the_link(organization, owner, settings):
    # given
    team = TeamFactory(organization=organization, name="Support")
    invitation = InvitationFactory(
        organization=organization, role=Role.DEVELOPER, team=team, invited_by=owner, token="tok-mail"
    )
    from apps.accounts.tasks import send_invitation_email_task

    # when
    send_invitation_email_task(str(invitation.pk), "tok-mail")
    # then
    (message,) = mail.outbox
    assert INVALID not in message.body
    assert f"{owner.get_full_name()} invited you to join {organization.name} on {settings.SITE_NAME}" in message.body
    assert "as developer, in the team Support." in message.body
    assert f"{settings.SITE_URL}/account/invitations/tok-mail/" in message.body
    assert "&#" not in message.body


# -- Accepting an invitation ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_visitor_sees_the_invitation_and_is_offered_sign_in_or_sign_up(client, organization):
    InvitationFactory(organization=organization, role=Role.OPERATOR, token="tok-a")

    body = _page(client.get("/account/invitations/tok-a/"))

    assert f"<h1>{organization.name}</h1>" in body
    assert "Operator" in body
    assert 'href="/accounts/login/?next=%2Faccount%2Finvitations%2Ftok-a%2F"' in body
    assert 'href="/accounts/signup/?next=%2Faccount%2Finvitations%2Ftok-a%2F"' in body
    assert "Accept and join" not in body


@pytest.mark.django_db
def test_a_visitor_posting_the_acceptance_is_sent_to_sign_in(client, organization):
    InvitationFactory(organization=organization, token="tok-b")

    response = client.post("/account/invitations/tok-b/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/account/invitations/tok-b/"


@pytest.mark.django_db
def test_the_invited_person_accepts_and_lands_on_the_dashboard_of_the_organization(client, organization):
    # given
    invitee = UserFactory(email="invitee@example.com")
    MembershipFactory(user=invitee)  # they already work elsewhere
    InvitationFactory(organization=organization, email="invitee@example.com", role=Role.DEVELOPER, token="tok-c")
    client.force_login(invitee)
    # when
    page = _page(client.get("/account/invitations/tok-c/"))
    response = client.post("/account/invitations/tok-c/")
    # then
    assert "Accept and join" in page
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert Membership.objects.get(user=invitee, organization=organization).role == Role.DEVELOPER
    assert client.session[SESSION_KEY] == str(organization.pk)
    assert f"Welcome to {organization.name}" in _page(client.get("/dashboard/"))


@pytest.mark.django_db
def test_someone_signed_in_with_another_address_is_told_to_switch_account(client, organization, user):
    # given
    InvitationFactory(organization=organization, email="someone.else@example.com", token="tok-d")
    client.force_login(user)
    # when
    page = _page(client.get("/account/invitations/tok-d/"))
    refused = _page(client.post("/account/invitations/tok-d/"), status=403)
    # then
    assert "sent to a different email address" in page
    assert "Sign out and switch account" in page
    assert "Accept and join" not in page
    assert "This invitation was sent to another email address" in refused
    assert not Membership.objects.filter(user=user, organization=organization).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"expires_at": timezone.now() - timedelta(days=1)}, "This invitation expired on"),
        ({"revoked_at": timezone.now()}, "This invitation was withdrawn by"),
        ({"accepted_at": timezone.now()}, "This invitation has already been accepted"),
    ],
    ids=["expired", "revoked", "accepted"],
)
def test_an_invitation_that_can_no_longer_be_used_says_why(client, organization, state, expected):
    InvitationFactory(organization=organization, email="late@example.com", token="tok-e", **state)
    client.force_login(UserFactory(email="late@example.com"))

    page = _page(client.get("/account/invitations/tok-e/"))
    refused = _page(client.post("/account/invitations/tok-e/"), status=409)

    assert expected in page
    assert "Accept and join" not in page
    assert "This invitation is" in refused


@pytest.mark.django_db
def test_an_unknown_invitation_link_gets_a_friendly_not_found_page(client):
    body = _page(client.get("/account/invitations/not-a-real-token/"), status=404)

    assert "This invitation link does not work" in body


@pytest.mark.django_db
def test_a_member_opening_an_invitation_to_their_own_organization_is_told_so(client, viewer, organization):
    InvitationFactory(organization=organization, email=viewer.email, token="tok-f")
    client.force_login(viewer)

    body = _page(client.get("/account/invitations/tok-f/"))

    assert "You already belong to" in body


# -- allauth's pages in the site's frame -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/accounts/password/reset/done/"]
)
def test_the_entrance_pages_use_the_site_frame(client, path):
    body = _page(client.get(path))

    assert '<a class="skip-link" href="#main">' in body
    assert '<div class="auth__card">' in body
    assert '<footer class="site-footer">' in body


@pytest.mark.django_db
def test_the_sign_in_form_asks_for_email_and_password_with_labels(client):
    body = _page(client.get("/accounts/login/?login=ada%40example.com"))

    assert '<label for="id_login"> Email </label>' in body
    assert 'type="email" name="login"' in body
    assert '<label for="id_password"> Password </label>' in body
    assert '<button class="btn btn-primary btn-lg btn-block" type="submit">' in body


@pytest.mark.django_db
def test_wrong_credentials_are_reported_on_the_sign_in_form(client, owner):
    body = _page(client.post("/accounts/login/", {"login": owner.email, "password": "not-the-password"}))

    assert '<div class="alert alert--error" role="alert">' in body
    assert "The email address and/or password you specified are not correct." in body


@pytest.mark.django_db
def test_signing_in_with_email_and_password_leads_to_the_dashboard(client, owner):
    response = client.post("/accounts/login/", {"login": owner.email, "password": "correct-horse-battery-staple"})

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


@pytest.mark.django_db
def test_signup_errors_appear_next_to_their_field(client):
    body = _page(client.post("/accounts/signup/", {"email": "nobody", "password1": "short", "password2": "short"}))

    assert _field_errors(body, "id_email") == ["Enter a valid email address."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/", "/accounts/logout/"]
)
def test_the_account_management_pages_use_the_account_frame(client, owner, path):
    client.force_login(owner)

    body = _page(client.get(path))

    assert '<nav class="subnav" aria-label="Account">' in body
    assert '<a class="skip-link" href="#main">' in body


def test_the_sign_in_page_asks_for_the_email_first(client):
    body = _page(client.get("/accounts/login/"))

    assert 'name="login"' in body
    assert "Work email" in body
    assert 'name="password"' not in body


@pytest.mark.django_db
def test_the_password_step_can_be_reached_directly_for_break_glass(client):
    body = _page(client.get("/accounts/login/?password=1"))

    assert 'name="password"' in body


@pytest.mark.django_db
def test_an_invalid_email_on_the_first_step_is_refused_next_to_the_field(client):
    response = client.post("/accounts/login/", {"login": "not an email"})

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_an_expired_session_is_explained_on_the_sign_in_page(client):
    body = _page(client.get("/accounts/login/?expired=idle_timeout"))

    assert "Your session ended after the time your organization allows" in body
