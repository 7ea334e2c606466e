"""The account area in a real browser: invitations accepted from the email link, and allauth's pages in our frame."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from tests.browser.conftest import PHONE
from tests.factories.accounts import InvitationFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Quiet-Harbour-Lamp-93"


def test_an_invited_colleague_signs_up_from_the_link_and_joins(open_page, screenshot, owner, organization):
    # given an invitation to a team, opened on a phone by someone without an account
    team = TeamFactory(organization=organization, name="Field Operations")
    InvitationFactory(
        organization=organization,
        email="lin@example.com",
        role=Role.OPERATOR,
        team=team,
        invited_by=owner,
        token="tok-1",
    )
    page = open_page(viewport=PHONE)
    page.goto("/account/invitations/tok-1/")
    expect(page.get_by_role("heading", level=1)).to_have_text(organization.name)
    screenshot(page, "invitation-phone")

    # when they create an account with the invited address
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("lin@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign Up").click()

    # then they are back on the invitation, and accepting it takes them to the dashboard as a member
    expect(page).to_have_url(re.compile(r"/account/invitations/tok-1/$"))
    page.get_by_role("button", name=f"Accept and join {organization.name}").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("status")).to_contain_text(f"Welcome to {organization.name}")
    membership = Membership.objects.get(user__email="lin@example.com")
    assert (membership.organization, membership.role) == (organization, Role.OPERATOR)
    assert list(membership.teams.values_list("name", flat=True)) == ["Field Operations"]


@pytest.mark.parametrize(
    ("path", "heading", "name"),
    [
        ("/account/", "Profile and organizations", "account-home"),
        ("/accounts/email/", "Email Addresses", "account-email"),
        ("/accounts/password/change/", "Change Password", "account-password"),
        ("/accounts/2fa/", "Two-Factor Authentication", "account-2fa"),
    ],
)
def test_account_pages_share_the_site_frame(open_signed_in_page, screenshot, owner, path, heading, name):
    # given a signed-in member
    page = open_signed_in_page(owner)

    # when they open one of their account pages
    page.goto(path)

    # then it has the site's landmarks, the account navigation and the page's own heading
    expect(page.get_by_role("banner")).to_be_visible()
    expect(page.get_by_role("navigation", name="Account")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_role("contentinfo")).to_be_visible()
    screenshot(page, name)
