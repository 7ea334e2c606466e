"""MFA: an organization that requires it sends members without a second factor to enrol; TOTP codes work once."""

from __future__ import annotations

import time

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.test import Client

from apps.accounts.models import SecurityPolicy
from apps.accounts.roles import Role
from apps.security.models import AuditEvent
from tests.factories.accounts import DEFAULT_PASSWORD


def _code(secret: str) -> str:
    # A code is only good inside its 30-second window (tolerance 0): never hand out one about to expire.
    if 30 - time.time() % 30 < 3:
        time.sleep(3.5)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _password_sign_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return client


def _enrol_totp(client: Client) -> str:
    # allauth asks for the password again before a second factor is added.
    reauthenticated = client.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    assert reauthenticated.status_code == 302, reauthenticated.content
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post("/accounts/2fa/totp/activate/", {"code": _code(secret)})
    assert response.status_code == 302, response.content
    return secret


def test_a_member_of_an_mfa_required_organization_can_do_nothing_until_they_enrol(
    organization, make_member, django_capture_on_commit_callbacks
):
    # given
    SecurityPolicy.objects.create(organization=organization, require_mfa=True)
    member = make_member(organization, Role.DEVELOPER)
    client = _password_sign_in(member)
    # when they open any page or call the API
    page = client.get("/dashboard/")
    api = client.get("/api/v1/teams/")
    # then they are sent to enrol
    assert page.status_code == 302
    assert page["Location"] == "/accounts/2fa/totp/activate/?required=1"
    assert api.status_code == 403
    assert api.json()["code"] == "mfa_enrolment_required"
    # when they enrol a TOTP authenticator (allauth announces it once the transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        _enrol_totp(client)
    # then everything works
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/api/v1/teams/").status_code == 200
    assert AuditEvent.objects.filter(action="accounts.mfa_added", actor_id=str(member.pk)).exists()


def test_members_of_organizations_without_the_requirement_are_not_stopped(organization, make_member):
    member = make_member(organization, Role.DEVELOPER)

    client = _password_sign_in(member)

    assert client.get("/dashboard/").status_code == 200


def test_the_enrolment_and_sign_out_pages_stay_reachable(organization, make_member):
    SecurityPolicy.objects.create(organization=organization, require_mfa=True)
    client = _password_sign_in(make_member(organization, Role.VIEWER))

    assert client.get("/accounts/reauthenticate/").status_code == 200
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    assert client.post("/accounts/logout/").status_code == 302


def test_turning_the_requirement_on_reaches_sessions_already_open(organization, make_member):
    # given a member signed in before the organization required MFA
    member = make_member(organization, Role.VIEWER)
    client = _password_sign_in(member)
    assert client.get("/dashboard/").status_code == 200
    # when it is turned on and the session's policy is re-read
    SecurityPolicy.objects.create(organization=organization, require_mfa=True)
    session = client.session
    session["_nofx_session_policy_read"] = 0
    session.save()
    # then
    assert client.get("/dashboard/")["Location"].startswith("/accounts/2fa/totp/activate/")


def test_a_totp_code_works_once(organization, make_member):
    # given a member with TOTP
    member = make_member(organization, Role.VIEWER)
    secret = _enrol_totp(_password_sign_in(member))
    code = _code(secret)
    first = Client()
    first.post("/accounts/login/", {"login": member.email, "password": DEFAULT_PASSWORD})
    accepted = first.post("/accounts/2fa/authenticate/", {"code": code})
    assert accepted.status_code == 302
    assert first.get("/dashboard/").status_code == 200
    # when the same code is used again in another browser
    second = Client()
    second.post("/accounts/login/", {"login": member.email, "password": DEFAULT_PASSWORD})
    replayed = second.post("/accounts/2fa/authenticate/", {"code": code})
    # then it is refused
    assert replayed.status_code == 200
    assert "Incorrect code" in replayed.content.decode()
    assert second.get("/dashboard/")["Location"].startswith("/accounts/login/")
    assert Authenticator.objects.filter(user=member, type=Authenticator.Type.TOTP).count() == 1
