"""The identity app's revokers: a security response ends sessions and revokes OAuth tokens; neither comes back."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken

from apps.accounts import services
from apps.accounts.models import UserSession
from apps.security import services as security
from apps.security.detectors import Detection
from apps.security.models import ResponseAction, ResponseKind, ResponseStatus, Severity

pytestmark = pytest.mark.django_db


def _event(playbook, **subject):
    return security.raise_security_event(
        detection=Detection(
            event_type="test_rule",
            severity=Severity.HIGH,
            title="A test detection",
            dedup_key="test:revokers",
            detection_method="test",
            playbook=playbook,
            **subject,
        )
    )


def _machine_token(organization, owner) -> str:
    registration, secret = services.register_oauth_app(
        organization=organization, actor=owner, name="Robot", kind="machine", scopes=["teams:read"]
    )
    basic = base64.b64encode(f"{registration.application.client_id}:{secret}".encode()).decode()
    answer = Client().post(
        "/o/token/", {"grant_type": "client_credentials", "scope": "teams:read"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return str(answer.json()["access_token"])


def test_revoking_sessions_ends_the_tracked_sessions_and_cannot_be_undone(owner):
    # given a person signed in
    browser = Client()
    browser.force_login(owner)
    # when
    event = _event((ResponseKind.REVOKE_SESSIONS,), user=owner)
    # then the tracked session is ended and the browser is signed out
    assert UserSession.objects.get(user=owner).end_reason == "security_response"
    assert browser.get("/dashboard/").status_code == 302
    # when an operator reverses it, the session stays ended
    action = ResponseAction.objects.get(event=event, kind=ResponseKind.REVOKE_SESSIONS)
    security.reverse_response(action=action, actor=None)
    assert UserSession.objects.get(user=owner).ended_at is not None


def test_revoking_the_token_an_event_is_about_stops_it(organization, owner):
    # given a token in use
    token = _machine_token(organization, owner)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert Client().get("/api/v1/teams/", **bearer).status_code == 200
    row = AccessToken.objects.get()
    # when
    event = _event((ResponseKind.REVOKE_TOKENS,), resource_type="oauth_token", resource_id=str(row.pk))
    # then
    action = ResponseAction.objects.get(event=event, kind=ResponseKind.REVOKE_TOKENS)
    assert action.status == ResponseStatus.APPLIED
    assert Client().get("/api/v1/teams/", **bearer).status_code == 401
    # and a reversal says it cannot bring the token back
    reversed_action = security.reverse_response(action=action, actor=None)
    assert "cannot be restored" in reversed_action.detail
    assert not AccessToken.objects.filter(pk=row.pk).exists()


def test_revoking_a_persons_tokens_without_a_named_token_revokes_them_all(organization, owner):
    # given a person's token
    application = services.register_oauth_app(
        organization=organization, actor=owner, name="Web", kind="machine", scopes=["teams:read"]
    )[0].application
    AccessToken.objects.create(
        user=owner, application=application, token="t" * 40, scope="teams:read", expires="2999-01-01T00:00Z"
    )
    # when
    _event((ResponseKind.REVOKE_TOKENS,), user=owner)
    # then
    assert not AccessToken.objects.filter(user=owner).exists()
