"""The identity pages in Chromium: sign-in policy and SSO, OAuth apps, sessions."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.accounts.models import OrganizationOAuthApp
from tests.browser.conftest import PHONE


def test_an_owner_registers_an_oauth_app_and_reviews_sign_in_settings_and_sessions(
    open_signed_in_page, owner, organization, screenshot
):
    # given
    page = open_signed_in_page(owner)

    # when they open the sign-in settings from the account navigation
    page.goto("/account/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign-in and SSO").click()

    # then they see the policy and the values to give their IdP
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in and single sign-on")
    expect(page.get_by_text(f"/sso/saml/{organization.slug}/acs/")).to_be_visible()
    screenshot(page, "identity-security")

    # when they register a machine client
    page.get_by_role("navigation", name="Account").get_by_role("link", name="OAuth apps").click()
    page.get_by_label("App name").fill("Nightly export")
    page.get_by_label(re.compile("Machine client")).check()
    page.get_by_label(re.compile(r"teams:read\b")).check()
    page.get_by_role("button", name="Register app").click()

    # then the secret is shown once, beside the client id
    expect(page.locator("#new-client-secret")).to_be_visible()
    registration = OrganizationOAuthApp.objects.get(organization=organization)
    expect(page.locator("#new-client-id")).to_have_text(registration.application.client_id)
    screenshot(page, "identity-oauth-apps")

    # and their sessions page fits a phone
    page.set_viewport_size(PHONE)
    page.goto("/account/sessions/")
    expect(page.get_by_text("This browser")).to_be_visible()
    screenshot(page, "identity-sessions-phone")
