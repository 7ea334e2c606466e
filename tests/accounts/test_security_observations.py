"""Sign-ins, role changes, sensitive actions and bearer tokens reach the security detectors."""

from __future__ import annotations

import base64

import pytest
from django.test import Client, RequestFactory

from apps.accounts import services
from apps.accounts.sso import saml
from apps.security import services as security
from apps.security.detectors import account_key
from apps.security.models import LoginObservation, SecurityEvent
from tests.factories.accounts import DEFAULT_PASSWORD, MembershipFactory


def _sign_in(client: Client, email: str, password: str):
    return client.post("/accounts/login/", {"login": email, "password": password})


@pytest.fixture
def low_thresholds(settings):
    settings.SECURITY_DETECTOR_THRESHOLDS = {
        "brute_force_failures": 3,
        "stuffing_accounts": 3,
        "webhook_failures": 3,
        "mass_export_records": 5,
        "mass_deletion_records": 1,
    }


def test_failed_sign_ins_to_one_account_raise_a_brute_force_event(owner, low_thresholds):
    # given an attacker below the lockout limit of django-axes
    attacker = Client(REMOTE_ADDR="127.0.0.7")
    # when it guesses three wrong passwords
    for _ in range(3):
        _sign_in(attacker, owner.email, "wrong-password-123")
    # then the brute-force rule fired for that account
    event = SecurityEvent.objects.get(event_type="brute_force")
    assert event.user == owner
    assert LoginObservation.objects.filter(success=False, account_key=account_key(owner.email)).count() == 3


def test_failed_sign_ins_to_many_accounts_from_one_address_raise_a_stuffing_event(db, low_thresholds):
    # given
    attacker = Client(REMOTE_ADDR="127.0.0.8")
    # when
    for n in range(3):
        _sign_in(attacker, f"nobody{n}@example.com", "guess-guess-guess")
    # then
    event = SecurityEvent.objects.get(event_type="credential_stuffing")
    assert event.source_ip == "127.0.0.8"


def test_a_successful_sign_in_is_observed_with_its_address(owner):
    # when
    response = _sign_in(Client(REMOTE_ADDR="127.0.0.9"), owner.email, DEFAULT_PASSWORD)
    # then
    assert response.status_code == 302
    observation = LoginObservation.objects.get(success=True)
    assert (observation.user, observation.ip) == (owner, "127.0.0.9")


def test_a_failing_detector_never_breaks_the_sign_in(owner, monkeypatch, caplog):
    # given a detector that blows up
    def broken(**kwargs):
        raise RuntimeError("detector down")

    monkeypatch.setattr(security, "observe_login", broken)
    # when
    response = _sign_in(Client(), owner.email, DEFAULT_PASSWORD)
    # then the person is signed in and the failure is logged
    assert response.status_code == 302
    assert "Security observation" in caplog.text


def test_a_refused_saml_answer_counts_as_a_failed_sign_in(organization):
    # given a SAML answer the ACS refused
    request = RequestFactory().post(f"/sso/saml/{organization.slug}/acs/", REMOTE_ADDR="127.0.0.10")
    request.resolver_match = type("Match", (), {"kwargs": {"slug": organization.slug}})()
    # when
    saml.acs_failure_page(request, exception=PermissionError("bad"))
    # then
    observation = LoginObservation.objects.get()
    assert (observation.success, observation.ip) == (False, "127.0.0.10")
    assert observation.account_key == account_key(f"saml:{organization.slug}")


def test_a_sensitive_action_soon_after_a_role_raise_is_a_privilege_escalation(
    organization, owner, django_capture_on_commit_callbacks
):
    # given a viewer raised to admin
    membership = MembershipFactory(organization=organization, role="viewer")
    with django_capture_on_commit_callbacks(execute=True):
        services.change_member_role(membership=membership, role="admin", actor=owner)
    # when the new admin registers an OAuth app right away
    with django_capture_on_commit_callbacks(execute=True):
        services.register_oauth_app(
            organization=organization, actor=membership.user, name="Exfil", kind="machine", scopes=["teams:read"]
        )
    # then
    event = SecurityEvent.objects.get(event_type="privilege_escalation")
    assert event.user == membership.user
    assert event.data["action"] == "accounts.oauth_app_registered"


def test_a_lowered_role_is_no_escalation(organization, owner, django_capture_on_commit_callbacks):
    # given an admin lowered to viewer
    membership = MembershipFactory(organization=organization, role="admin")
    with django_capture_on_commit_callbacks(execute=True):
        services.change_member_role(membership=membership, role="viewer", actor=owner)
    # when the owner then does something sensitive as that member would
    security.observe_sensitive_action(user=membership.user, organization=organization, action="test")
    # then nothing is raised
    assert not SecurityEvent.objects.exists()


def _machine_token(organization, owner) -> str:
    registration, secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Robot", kind="machine", scopes=["teams:read"]
    )
    basic = base64.b64encode(f"{registration.application.client_id}:{secret}".encode()).decode()
    answer = Client().post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "teams:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    return str(answer.json()["access_token"])


def test_an_oauth_token_used_from_two_distant_networks_raises_an_event(organization, owner):
    # given a client-credentials token
    token = _machine_token(organization, owner)
    # when it is presented from two different /16 networks within minutes
    for address in ("127.0.0.1", "127.9.0.1"):
        response = Client(REMOTE_ADDR=address).get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
    # then
    event = SecurityEvent.objects.get(event_type="token_distant_ips")
    assert event.resource_type == "oauth_token"
