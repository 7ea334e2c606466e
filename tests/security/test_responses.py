"""Every automated response takes effect, is recorded on its event, and can be reversed by an operator."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.http import HttpRequest
from django.test import RequestFactory

from apps.accounts.roles import Role
from apps.security import responses, services
from apps.security.detectors import Detection
from apps.security.models import (
    AccountLock,
    ResponseAction,
    ResponseKind,
    ResponseStatus,
    SecurityAlertChannel,
    SecurityNotification,
    Severity,
)
from apps.security.signing import SIGNATURE_HEADER, verify
from tests.factories.accounts import DEFAULT_PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _sign_in_request() -> HttpRequest:
    """A sign-in request: the brute-force guard (django-axes) only judges attempts that come with one."""
    return RequestFactory().post("/accounts/login/", REMOTE_ADDR="203.0.113.10")


def _detect(severity=Severity.HIGH, playbook=(ResponseKind.NOTIFY,), **kwargs):
    return services.raise_security_event(
        detection=Detection(
            event_type="test_rule",
            severity=severity,
            title="A test detection",
            dedup_key=kwargs.pop("dedup_key", "test:1"),
            detection_method="test",
            playbook=playbook,
            **kwargs,
        )
    )


def _action(event, kind):
    return ResponseAction.objects.get(event=event, kind=kind)


# -- The ladder --------------------------------------------------------------------------------------------


def test_a_low_severity_detection_only_notifies_whatever_its_playbook_asks():
    user = UserFactory()

    event = _detect(
        severity=Severity.LOW,
        user=user,
        source_ip="203.0.113.9",
        playbook=(ResponseKind.NOTIFY, ResponseKind.LOCK_ACCOUNT, ResponseKind.BLOCK_IP),
    )

    assert list(event.responses.values_list("kind", flat=True)) == [ResponseKind.NOTIFY]
    assert not AccountLock.objects.exists()


def test_an_escalated_repeat_takes_the_responses_the_higher_severity_allows():
    user = UserFactory()
    playbook = (ResponseKind.NOTIFY, ResponseKind.LOCK_ACCOUNT)
    _detect(severity=Severity.LOW, user=user, playbook=playbook)

    event = _detect(severity=Severity.HIGH, user=user, playbook=playbook)

    assert event.severity == Severity.HIGH
    assert sorted(event.responses.values_list("kind", flat=True)) == [ResponseKind.LOCK_ACCOUNT, ResponseKind.NOTIFY]


# -- Lock with cool-off --------------------------------------------------------------------------------------


def test_a_locked_person_cannot_sign_in_and_can_again_once_an_operator_reverses_the_lock(client):
    # given
    user = UserFactory()
    operator = UserFactory(is_staff=True)
    event = _detect(user=user, playbook=(ResponseKind.LOCK_ACCOUNT,))
    lock = _action(event, ResponseKind.LOCK_ACCOUNT)
    # when / then: the right password is refused, by the backend and by the login page
    assert lock.status == ResponseStatus.APPLIED
    assert authenticate(_sign_in_request(), username=user.email, password=DEFAULT_PASSWORD) is None
    client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert "_auth_user_id" not in client.session
    # when the operator reverses it
    services.reverse_response(action=lock, actor=operator)
    # then
    assert authenticate(_sign_in_request(), username=user.email, password=DEFAULT_PASSWORD) == user
    client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert client.session["_auth_user_id"] == str(user.pk)
    assert _action(event, ResponseKind.LOCK_ACCOUNT).status == ResponseStatus.REVERSED


def test_a_lock_ends_the_session_that_is_already_open(client, api_client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/dashboard/").status_code == 200

    _detect(user=user, playbook=(ResponseKind.LOCK_ACCOUNT,))

    response = client.get("/dashboard/")
    assert response.status_code == 403
    assert b"locked" in response.content
    assert "_auth_user_id" not in client.session


def test_a_lock_lapses_by_itself_after_its_cool_off(settings):
    settings.SECURITY_RESPONSE_DURATION_MINUTES = {Severity.HIGH: 0}
    user = UserFactory()

    _detect(user=user, playbook=(ResponseKind.LOCK_ACCOUNT,))

    assert authenticate(_sign_in_request(), username=user.email, password=DEFAULT_PASSWORD) == user


# -- Re-authentication and sessions ------------------------------------------------------------------------------


def test_required_reauthentication_sends_an_older_session_to_sign_in_and_cancelling_it_does_not(client):
    user = UserFactory()
    operator = UserFactory(is_staff=True)
    client.force_login(user)
    event = _detect(user=user, severity=Severity.MEDIUM, playbook=(ResponseKind.REQUIRE_REAUTH,))

    refused = client.get("/dashboard/")

    assert refused.status_code == 302
    assert refused["Location"].startswith("/accounts/login/")
    # A fresh sign-in is newer than the demand and passes.
    client.force_login(user)
    assert client.get("/dashboard/").status_code == 200
    # After reversal even an old session would pass: the demand is gone.
    services.reverse_response(action=_action(event, ResponseKind.REQUIRE_REAUTH), actor=operator)
    assert client.get("/dashboard/").status_code == 200


def test_an_api_call_on_a_session_that_must_reauthenticate_answers_401_problem(client):
    user = UserFactory()
    MembershipFactory(user=user, role=Role.OWNER)
    client.force_login(user)
    _detect(user=user, severity=Severity.MEDIUM, playbook=(ResponseKind.REQUIRE_REAUTH,))

    response = client.get("/api/v1/security-events/")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/reauthentication-required")


def test_revoking_sessions_deletes_them(client):
    user = UserFactory()
    client.force_login(user)
    other = UserFactory()
    from django.test import Client

    bystander = Client()
    bystander.force_login(other)

    event = _detect(user=user, playbook=(ResponseKind.REVOKE_SESSIONS,))

    # the identity app's revoker ended the tracked session; nothing was left for the store sweep
    action = _action(event, ResponseKind.REVOKE_SESSIONS)
    assert "Ended 1 tracked sessions" in action.detail
    assert action.target["sessions"] == 0
    assert client.get("/dashboard/").status_code == 302
    assert bystander.get("/dashboard/").status_code == 200


# -- Credentials owned by other apps ------------------------------------------------------------------------


@pytest.fixture
def no_revokers(monkeypatch):
    """As before the identity and gateway apps register theirs; put back whatever they registered after."""
    monkeypatch.setattr(responses, "_REVOKERS", {})


def test_revoking_api_keys_is_recorded_as_not_available_until_the_gateway_provides_it(no_revokers):
    event = _detect(resource_type="gateway.apiclient", resource_id="client-1", playbook=(ResponseKind.REVOKE_API_KEYS,))

    action = _action(event, ResponseKind.REVOKE_API_KEYS)

    assert action.status == ResponseStatus.NOT_AVAILABLE
    assert "gateway" in action.detail


def test_a_registered_revoker_is_called_and_its_restore_undoes_it(no_revokers):
    revoked: list[str] = []

    def revoke(*, event, user_id, credential_id, client_id):
        revoked.append(client_id)
        return f"revoked keys of {client_id}"

    def restore(*, action):
        revoked.remove(action.target["client_id"])
        return "restored"

    responses.register_credential_revoker(ResponseKind.REVOKE_API_KEYS, revoke=revoke, restore=restore)
    try:
        event = _detect(
            resource_type="gateway.apiclient", resource_id="client-1", playbook=(ResponseKind.REVOKE_API_KEYS,)
        )
        action = _action(event, ResponseKind.REVOKE_API_KEYS)
        assert (action.status, revoked) == (ResponseStatus.APPLIED, ["client-1"])

        services.reverse_response(action=action, actor=None)

        assert revoked == []
    finally:
        responses.unregister_credential_revoker(ResponseKind.REVOKE_API_KEYS)


def test_the_identity_and_gateway_apps_register_their_revokers():
    assert set(responses._REVOKERS) == {
        ResponseKind.REVOKE_SESSIONS,
        ResponseKind.REVOKE_TOKENS,
        ResponseKind.REVOKE_API_KEYS,
    }
    assert responses._REVOKERS[ResponseKind.REVOKE_API_KEYS].restore is not None


# -- Notify -----------------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[object, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((self.headers, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


def test_notify_alerts_admins_in_app_by_email_and_by_signed_webhook(
    django_capture_on_commit_callbacks, webhook_receiver
):
    # given an organization with an owner, an admin, a viewer and a webhook channel
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    admin = MembershipFactory(organization=organization, role=Role.ADMIN)
    MembershipFactory(organization=organization, role=Role.VIEWER)
    SecurityAlertChannel.objects.create(
        organization=organization, webhook_url=webhook_receiver, webhook_secret="s3cret"
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        event = _detect(organization=organization, playbook=(ResponseKind.NOTIFY,))
    # then
    recipients = set(SecurityNotification.objects.filter(event=event).values_list("recipient_id", flat=True))
    assert recipients == {owner.user_id, admin.user_id}
    assert sorted(mail.outbox[0].to) == sorted([owner.user.email, admin.user.email])
    headers, body = _Receiver.received[0]
    verify(["s3cret"], headers[SIGNATURE_HEADER], body)
    assert json.loads(body)["id"] == str(event.pk)
    assert owner.user.email.encode() not in body


def test_an_alert_webhook_to_a_private_address_is_refused_outside_sandboxes(
    django_capture_on_commit_callbacks, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    membership = MembershipFactory(role=Role.OWNER)
    SecurityAlertChannel.objects.create(
        organization=membership.organization, webhook_url="https://127.0.0.1:9/alerts", webhook_secret="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        _detect(organization=membership.organization, playbook=(ResponseKind.NOTIFY,))

    assert len(mail.outbox) == 1  # email still goes; the webhook was refused before any connection


def test_a_response_cannot_be_reversed_twice():
    user = UserFactory()
    event = _detect(user=user, playbook=(ResponseKind.LOCK_ACCOUNT,))
    action = _action(event, ResponseKind.LOCK_ACCOUNT)
    services.reverse_response(action=action, actor=None)

    from apps.core.exceptions import Conflict

    with pytest.raises(Conflict):
        services.reverse_response(action=action, actor=None)


def test_a_response_without_its_subject_is_recorded_as_not_available():
    event = _detect(playbook=(ResponseKind.LOCK_ACCOUNT, ResponseKind.BLOCK_IP))

    assert set(event.responses.values_list("status", flat=True)) == {ResponseStatus.NOT_AVAILABLE}
