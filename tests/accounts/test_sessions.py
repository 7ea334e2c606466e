"""Tracked sessions: who is signed in where, ending sessions, idle and absolute timeouts per organization."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services, session_control
from apps.accounts.models import SecurityPolicy, UserSession
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import DEFAULT_PASSWORD, MembershipFactory


def _signed_in(user, *, agent: str = "Mozilla/5.0 (X11; Linux) Firefox/130.0") -> Client:
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR="127.0.0.1")
    response = client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _age_session(client: Client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = session[key] - seconds
    session.save()


def test_signing_in_tracks_the_session_with_device_and_address_and_audits_it(owner):
    # when
    client = _signed_in(owner)
    # then
    tracked = UserSession.objects.get(user=owner)
    assert tracked.session_key == client.session.session_key
    assert (tracked.method, tracked.ip_address) == ("password", "127.0.0.1")
    assert "Firefox" in tracked.user_agent
    event = AuditEvent.objects.get(action="accounts.signed_in")
    assert event.actor_id == str(owner.pk)
    assert event.data["method"] == "password"


def test_the_sessions_page_lists_your_sessions_with_a_fixed_number_of_queries(owner, django_assert_max_num_queries):
    # given
    for n in range(5):
        _signed_in(owner, agent=f"Browser {n}")
    client = _signed_in(owner, agent="This one")
    # when / then
    with django_assert_max_num_queries(6):
        response = client.get("/account/sessions/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("Browser ") == 5
    assert "This browser" in body


def test_you_end_another_of_your_sessions_and_it_is_signed_out(owner):
    # given
    laptop = _signed_in(owner, agent="Laptop")
    phone = _signed_in(owner, agent="Phone")
    phone_session = UserSession.objects.get(session_key=phone.session.session_key)
    # when
    response = laptop.post(f"/account/sessions/{phone_session.pk}/end/")
    # then
    assert response.status_code == 302
    assert phone.get("/dashboard/")["Location"].startswith("/accounts/login/")
    assert laptop.get("/dashboard/").status_code == 200
    phone_session.refresh_from_db()
    assert phone_session.end_reason == "ended_by_user"
    assert AuditEvent.objects.filter(action="accounts.session_ended", data__reason="ended_by_user").exists()


def test_you_cannot_end_someone_elses_session(owner, organization, make_member):
    # given
    other = make_member(organization, Role.VIEWER)
    other_client = _signed_in(other)
    their_session = UserSession.objects.get(session_key=other_client.session.session_key)
    mine = _signed_in(owner)
    # when
    response = mine.post(f"/account/sessions/{their_session.pk}/end/")
    # then
    assert response.status_code == 404
    assert other_client.get("/dashboard/").status_code == 200


def test_an_admin_ends_a_members_sessions_from_the_organization_page(owner, organization, make_member, membership_of):
    # given
    member = make_member(organization, Role.DEVELOPER)
    member_client = _signed_in(member)
    admin_client = _signed_in(owner)
    # when
    response = admin_client.post(
        f"/account/organization/members/{membership_of(member, organization).pk}/sessions/end/"
    )
    # then
    assert response.status_code == 302
    assert member_client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    assert UserSession.objects.get(user=member).end_reason == "ended_by_admin"


def test_a_viewer_cannot_end_a_members_sessions(owner, organization, make_member, membership_of):
    viewer = make_member(organization, Role.VIEWER)
    owner_client = _signed_in(owner)
    viewer_client = _signed_in(viewer)

    response = viewer_client.post(
        f"/account/organization/members/{membership_of(owner, organization).pk}/sessions/end/"
    )

    assert response.status_code == 403
    assert owner_client.get("/dashboard/").status_code == 200


def test_a_session_idle_longer_than_the_organization_allows_ends(owner, organization):
    # given an organization whose sessions end after 10 idle minutes
    SecurityPolicy.objects.create(organization=organization, idle_timeout_minutes=10)
    client = _signed_in(owner)
    # when the session sat unused for 11 minutes
    _age_session(client, session_control.SEEN, 11 * 60)
    response = client.get("/dashboard/")
    # then
    assert response.status_code == 302
    assert "expired=idle_timeout" in response["Location"]
    assert UserSession.objects.get(user=owner).end_reason == "idle_timeout"
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")


def test_a_session_used_within_the_idle_timeout_stays(owner, organization):
    SecurityPolicy.objects.create(organization=organization, idle_timeout_minutes=10)
    client = _signed_in(owner)

    _age_session(client, session_control.SEEN, 9 * 60)

    assert client.get("/dashboard/").status_code == 200


def test_a_session_older_than_the_absolute_timeout_ends_however_active(owner, organization):
    # given
    SecurityPolicy.objects.create(organization=organization, absolute_timeout_minutes=60)
    client = _signed_in(owner)
    # when
    _age_session(client, session_control.STARTED, 61 * 60)
    response = client.get("/dashboard/")
    # then
    assert "expired=absolute_timeout" in response["Location"]
    assert UserSession.objects.get(user=owner).end_reason == "absolute_timeout"


def test_an_expired_session_answers_401_on_the_api(owner, organization):
    SecurityPolicy.objects.create(organization=organization, idle_timeout_minutes=10)
    client = _signed_in(owner)

    _age_session(client, session_control.SEEN, 11 * 60)
    response = client.get("/api/v1/teams/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_the_strictest_of_a_persons_organizations_applies(owner, organization, other_organization, make_member):
    # given a person in two organizations, one strict
    SecurityPolicy.objects.create(organization=organization, idle_timeout_minutes=60)
    SecurityPolicy.objects.create(organization=other_organization, idle_timeout_minutes=15)
    MembershipFactory(user=owner, organization=other_organization)
    client = _signed_in(owner)
    # when
    _age_session(client, session_control.SEEN, 16 * 60)
    # then
    assert client.get("/dashboard/").status_code == 302


def test_signing_out_ends_the_tracked_session(owner):
    client = _signed_in(owner)

    client.post("/accounts/logout/")

    assert UserSession.objects.get(user=owner).end_reason == "signed_out"


@pytest.mark.parametrize(("idle", "absolute"), [(4, None), (None, 10), (60 * 24 * 31, None)])
def test_timeouts_outside_the_allowed_range_are_refused(organization, owner, idle, absolute):
    with pytest.raises(services.BusinessRuleViolation):
        services.update_security_policy(
            organization=organization,
            actor=owner,
            require_mfa=False,
            require_sso=False,
            break_glass_user=None,
            idle_timeout_minutes=idle,
            absolute_timeout_minutes=absolute,
        )


def test_ending_the_session_you_are_using_signs_you_out(owner):
    # given
    client = _signed_in(owner)
    client.get("/dashboard/")
    tracked = UserSession.objects.get(session_key=client.session.session_key)
    # when
    response = client.post(f"/account/sessions/{tracked.pk}/end/")
    # then
    assert response.status_code == 302
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    tracked.refresh_from_db()
    assert tracked.end_reason == "ended_by_user"


def test_housekeeping_removes_long_ended_sessions_and_marks_stale_ones_ended(owner):
    # given
    from datetime import timedelta

    from django.utils import timezone

    from apps.accounts.tasks import clear_expired_credentials_task

    old = timezone.now() - timedelta(days=120)
    ended = UserSession.objects.create(user=owner, session_key="ended-long-ago", ended_at=old, end_reason="signed_out")
    stale = UserSession.objects.create(user=owner, session_key="never-signed-out", last_seen_at=old)
    fresh = UserSession.objects.create(user=owner, session_key="in-use")
    # when
    result = clear_expired_credentials_task()
    # then
    assert result == {"ended_sessions_removed": 1, "sessions_marked_expired": 1}
    assert not UserSession.objects.filter(pk=ended.pk).exists()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.end_reason, fresh.ended_at) == ("expired", None)
