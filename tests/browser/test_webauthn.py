"""Security keys (WebAuthn) as a second factor, with Chromium's virtual authenticator standing in for the key."""

from __future__ import annotations

import re
from typing import Any

from allauth.mfa.models import Authenticator
from playwright.sync_api import expect

from tests.factories.accounts import DEFAULT_PASSWORD


def _with_a_security_key(page: Any) -> None:
    """Plug a virtual USB security key (user verification on) into the page's browser."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def _sign_in_with_password(page: Any, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Work email").fill(email)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign In").click()


def test_a_member_adds_a_security_key_and_then_needs_it_to_sign_in(open_page, owner, screenshot):
    # given a signed-in member whose browser has a security key
    page = open_page()
    _with_a_security_key(page)
    _sign_in_with_password(page, owner.email)
    expect(page).to_have_url(re.compile(r"/dashboard/$"))

    # when they add the key as a second factor
    page.goto("/accounts/2fa/webauthn/add/")
    # (changing sign-in factors asks for the password again first)
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/webauthn/add/"))
    page.get_by_label("Name").fill("Desk key")
    page.locator("#mfa_webauthn_add").click()

    # then the key is theirs, and allauth hands out recovery codes beside it
    expect(page).not_to_have_url(re.compile(r"/webauthn/add/"))
    key = Authenticator.objects.get(user=owner, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "Desk key"
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.RECOVERY_CODES).exists()
    screenshot(page, "webauthn-added")

    # when they sign out and sign in again with their password
    page.context.clear_cookies()
    _sign_in_with_password(page, owner.email)

    # then the password alone is not enough: the key is asked for, and with it they are in
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.get_by_role("button", name=re.compile("security key", re.I)).click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
