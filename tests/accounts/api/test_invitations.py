import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts.models import Invitation, Membership, TeamMembership
from apps.accounts.roles import Role
from tests.factories.accounts import InvitationFactory, MembershipFactory, TeamFactory, UserFactory


def _token_from_email() -> str:
    match = re.search(r"/account/invitations/([A-Za-z0-9_-]+)/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


@pytest.fixture
def invite(owner_client, django_capture_on_commit_callbacks):
    """POST an invitation as the owner and run what happens after commit (the email)."""

    def post(**data):
        with django_capture_on_commit_callbacks(execute=True):
            return owner_client.post("/api/v1/invitations/", data)

    return post


def test_an_invitation_is_emailed_with_a_link_and_only_its_hash_is_stored(invite):
    # when
    response = invite(email="New.Person@Example.com", role="developer")
    # then
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert mail.outbox[-1].to == ["new.person@example.com"]
    token = _token_from_email()
    invitation = Invitation.objects.get()
    assert token not in invitation.token_hash
    assert len(invitation.token_hash) == 64


def test_the_invitee_accepts_and_joins_with_the_role_and_team(invite, organization, api_client):
    # given
    team = TeamFactory(organization=organization)
    invite(email="joiner@example.com", role="operator", team=str(team.pk))
    joiner = UserFactory(email="joiner@example.com")
    api_client.force_authenticate(joiner)
    # when
    response = api_client.post("/api/v1/invitations/accept/", {"token": _token_from_email()})
    # then
    assert response.status_code == 200
    membership = Membership.objects.get(user=joiner, organization=organization)
    assert membership.role == Role.OPERATOR
    assert TeamMembership.objects.filter(team=team, membership=membership).exists()
    assert Invitation.objects.get().status == "accepted"


@pytest.mark.django_db
def test_someone_else_cannot_use_the_invitation(api_client, organization):
    InvitationFactory(organization=organization, email="intended@example.com", token="tok-1")
    api_client.force_authenticate(UserFactory(email="intruder@example.com"))

    response = api_client.post("/api/v1/invitations/accept/", {"token": "tok-1"})

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "wrong_recipient"
    assert not Membership.objects.filter(organization=organization).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "invitation_expired"),
        ({"revoked_at": timezone.now()}, "invitation_revoked"),
        ({"accepted_at": timezone.now()}, "invitation_accepted"),
    ],
)
def test_a_used_or_dead_invitation_is_a_conflict(api_client, organization, changes, code):
    InvitationFactory(organization=organization, email="late@example.com", token="tok-2", **changes)
    api_client.force_authenticate(UserFactory(email="late@example.com"))

    response = api_client.post("/api/v1/invitations/accept/", {"token": "tok-2"})

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == code


@pytest.mark.django_db
def test_an_unknown_token_is_refused(api_client, user):
    api_client.force_authenticate(user)

    response = api_client.post("/api/v1/invitations/accept/", {"token": "nonsense"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "token"


def test_inviting_an_existing_member_or_twice_is_a_conflict(owner_client, organization):
    member = MembershipFactory(organization=organization)
    owner_client.post("/api/v1/invitations/", {"email": "twice@example.com", "role": "viewer"})

    existing = owner_client.post("/api/v1/invitations/", {"email": member.user.email, "role": "viewer"})
    again = owner_client.post("/api/v1/invitations/", {"email": "twice@example.com", "role": "viewer"})

    assert (existing.status_code, again.status_code) == (409, 409)
    assert [e["code"] for e in (existing.json()["errors"][0], again.json()["errors"][0])] == [
        "already_member",
        "already_invited",
    ]


def test_an_admin_cannot_invite_an_owner(api_client, admin_user):
    api_client.force_authenticate(admin_user)

    response = api_client.post("/api/v1/invitations/", {"email": "boss@example.com", "role": "owner"})

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_a_bad_email_is_reported_next_to_the_field(owner_client):
    response = owner_client.post("/api/v1/invitations/", {"email": "not-an-email", "role": "viewer"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "email"


def test_a_revoked_invitation_can_no_longer_be_accepted(invite, owner_client, api_client):
    invite(email="gone@example.com", role="viewer")
    token = _token_from_email()
    invitation = Invitation.objects.get()

    revoked = owner_client.post(f"/api/v1/invitations/{invitation.pk}/revoke/")
    api_client.force_authenticate(UserFactory(email="gone@example.com"))
    accepted = api_client.post("/api/v1/invitations/accept/", {"token": token})

    assert revoked.json()["status"] == "revoked"
    assert accepted.status_code == 409


def test_a_viewer_cannot_see_or_send_invitations(api_client, viewer):
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/invitations/").status_code == 403
    assert api_client.post("/api/v1/invitations/", {"email": "x@example.com", "role": "viewer"}).status_code == 403
