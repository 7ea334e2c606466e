"""Brute-force protection (django-axes): 5 failures lock the account or the address for 15 minutes, audited."""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.accounts import services
from apps.security.models import AuditEvent, SecurityEvent
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory


def _attempt(client: Client, email: str, password: str):
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_the_documented_thresholds_are_five_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_five_failures_lock_the_account_even_with_the_right_password_then_the_cool_off_expires(owner):
    # given five wrong passwords (the fifth already answers with the lockout)
    client = Client(REMOTE_ADDR="127.0.0.1")
    for _ in range(4):
        assert _attempt(client, owner.email, "wrong-password-123").status_code == 200
    assert _attempt(client, owner.email, "wrong-password-123").status_code == 429
    # when the right password comes next, from another address
    locked = _attempt(Client(REMOTE_ADDR="127.0.0.9"), owner.email, DEFAULT_PASSWORD)
    # then the account is locked, and it says for how long
    assert locked.status_code == 429
    assert "15 minutes" in locked.content.decode()
    assert locked["Retry-After"] == "900"
    assert AuditEvent.objects.filter(action="accounts.sign_in_locked_out", target_id=str(owner.pk)).exists()
    assert AuditEvent.objects.filter(action="accounts.sign_in_failed", target_id=str(owner.pk)).count() >= 5
    # when the cool-off has passed
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    unlocked = _attempt(Client(REMOTE_ADDR="127.0.0.9"), owner.email, DEFAULT_PASSWORD)
    # then the right password works again
    assert unlocked.status_code == 302


def test_four_failures_do_not_lock(owner):
    client = Client(REMOTE_ADDR="127.0.0.1")
    for _ in range(4):
        _attempt(client, owner.email, "wrong-password-123")

    assert _attempt(client, owner.email, DEFAULT_PASSWORD).status_code == 302


def test_failures_across_many_accounts_lock_the_address(db):
    # given one address trying five different accounts (credential stuffing)
    attacker = Client(REMOTE_ADDR="127.0.0.50")
    for n in range(5):
        _attempt(attacker, f"nobody{n}@example.com", "guess-guess-guess")
    victim = UserFactory()
    # when it then tries a real account with the right password
    response = _attempt(attacker, victim.email, DEFAULT_PASSWORD)
    # then the address is refused - by the security team's credential-stuffing rule, which blocks it before
    # django-axes would answer 429 - while the account still works from elsewhere
    assert response.status_code == 403
    assert SecurityEvent.objects.filter(event_type="credential_stuffing", source_ip="127.0.0.50").exists()
    assert _attempt(Client(REMOTE_ADDR="127.0.0.51"), victim.email, DEFAULT_PASSWORD).status_code == 302


def test_a_failed_sign_in_for_an_unknown_address_is_audited_without_naming_it(db):
    _attempt(Client(), "ghost@example.com", "whatever-whatever")

    event = AuditEvent.objects.get(action="accounts.sign_in_failed")
    assert event.target_id == ""
    assert "ghost" not in str(event.data)


def test_an_automated_response_locks_an_account_and_an_operator_unlocks_it(owner, admin_user):
    # given
    signed_in = Client()
    signed_in.force_login(owner)
    # when
    services.lock_account(user=owner, actor=None, reason="impossible travel")
    # then
    assert signed_in.get("/dashboard/").status_code == 302
    assert _attempt(Client(), owner.email, DEFAULT_PASSWORD).status_code == 429
    # when
    services.unlock_account(user=owner, actor=admin_user, reason="confirmed with the person")
    # then
    assert _attempt(Client(), owner.email, DEFAULT_PASSWORD).status_code == 302
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"accounts.account_locked", "accounts.account_unlocked"} <= actions


def test_a_failure_counts_against_the_address_the_other_rules_see(db, settings):
    # given a proxy we trust, and a caller that is not one
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    direct = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    via_proxy = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.99, 192.0.2.44")
    # when each fails to sign in
    _attempt(direct, "nobody@example.com", "guess-guess-guess")
    _attempt(via_proxy, "nobody@example.com", "guess-guess-guess")
    # then the forged header changed nothing, and behind the proxy the address it saw counts
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["192.0.2.44", "198.51.100.7"]
