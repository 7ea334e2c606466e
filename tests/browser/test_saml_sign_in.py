"""A person signs in through the organization's SAML IdP (SimpleSAMLphp on loopback) in Chromium."""

from __future__ import annotations

import re

from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts import services
from apps.accounts.models import EmailDomain, Membership, User
from apps.accounts.roles import Role
from tests.factories.accounts import MembershipFactory, OrganizationFactory


def test_a_person_signs_in_through_the_saml_idp_and_lands_on_their_organizations_page(
    open_page, live_server, saml_idp, settings, screenshot
):
    # given an organization whose IdP knows our SP on the live server's address. The IdP and the live
    # server share the host 127.0.0.1, so the IdP's POST back is same-site for the SAML session cookie.
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    base = live_server.url.replace("localhost", "127.0.0.1")
    organization = OrganizationFactory(slug="acme-browser", name="Acme Browser")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    EmailDomain.objects.create(organization=organization, domain="acme.test", verified_at=timezone.now())
    services.configure_saml_idp(organization=organization, actor=owner, metadata_url=saml_idp.metadata_url)
    saml_idp.register_sp(f"{base}/sso/saml/acme-browser/metadata/", f"{base}/sso/saml/acme-browser/acs/")
    ada = saml_idp.people["ada"]
    page = open_page()

    # when they give their work email on our sign-in page
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Work email").fill("ada@acme.test")
    page.get_by_role("main").get_by_role("button", name="Continue").click()

    # then they are at their IdP's sign-in form, and sign in there
    expect(page).to_have_url(re.compile(r"^" + re.escape(saml_idp.base_url)))
    page.locator("#username").fill(ada.username)
    page.locator("#password").fill(ada.password)
    screenshot(page, "saml-idp-sign-in")
    page.locator("#password").press("Enter")

    # then they come back signed in, on their organization's page
    expect(page).to_have_url(f"{base}/account/organization/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Browser")
    expect(page.get_by_text("Ada Lovelace").first).to_be_visible()
    screenshot(page, "saml-signed-in-organization")
    person = User.objects.get(email="ada@acme.test")
    assert Membership.objects.filter(user=person, organization=organization, role=Role.VIEWER).exists()
