"""A newcomer's first visit, end to end in a real browser, on a phone and on a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Invitation, Membership, Organization
from apps.accounts.roles import Role
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Sturdy-Lantern-Orbit-47"


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_visitor_signs_up_creates_an_organization_and_invites_a_colleague(
    open_page, screenshot, mailoutbox, active_regions
):
    # given a visitor on a phone
    phone = open_page(viewport=PHONE)
    phone.goto("/")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("kept in step")
    menu = phone.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(phone.get_by_role("navigation", name="Main")).to_be_hidden()
    assert _fits_the_screen(phone)
    screenshot(phone, "landing-phone")

    # when they open the menu from the keyboard
    menu.focus()
    phone.keyboard.press("Enter")

    # then the navigation unfolds
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(phone.get_by_role("navigation", name="Main").get_by_role("link", name="Marketplace")).to_be_visible()
    screenshot(phone, "landing-phone-menu", full_page=False)

    # and Escape folds it away again, leaving the focus on the button
    phone.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()

    # given the same visitor on a desktop
    page = open_page(viewport=DESKTOP)
    page.goto("/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    screenshot(page, "landing-desktop")

    # when they sign up
    page.get_by_role("banner").get_by_role("link", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    screenshot(page, "signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign Up").click()

    # then they land on a dashboard that asks them to create an organization
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", name="Create your organization")).to_be_visible()
    screenshot(page, "dashboard-empty")

    # when they create one
    page.get_by_role("link", name="Create an organization").click()
    page.get_by_label("Organization name").fill("Acme Logistics")
    page.get_by_label("Home region").fill("us-east")
    page.get_by_role("button", name="Create organization").click()

    # then they are on its page, as its owner
    expect(page).to_have_url(re.compile(r"/account/organization/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Logistics")
    organization = Organization.objects.get(name="Acme Logistics")
    assert organization.home_region_code == "us-east"
    assert Membership.objects.get(organization=organization).role == Role.OWNER

    # when they create a team and invite a colleague into it as a developer
    page.get_by_label("Team name").fill("Platform")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("status")).to_contain_text("The team Platform is created.")
    invitations = page.locator("#invitations")
    invitations.get_by_label("Email address").fill("grace@example.com")
    invitations.get_by_label("Role").select_option("developer")
    invitations.get_by_label("Add to team").select_option(label="Platform")
    invitations.get_by_role("button", name="Send invitation").click()

    # then they are back on the organization page with the invitation listed and the email sent
    expect(page).to_have_url(re.compile(r"/account/organization/#invitations$"))
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to grace@example.com.")
    expect(invitations.get_by_role("cell", name="grace@example.com", exact=True)).to_be_visible()
    invitation = Invitation.objects.get(organization=organization)
    assert (invitation.email, invitation.role, invitation.team.name) == ("grace@example.com", "developer", "Platform")
    sent = [m for m in mailoutbox if m.to == ["grace@example.com"]]
    assert len(sent) == 1
    assert "/account/invitations/" in sent[0].body
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "organization-desktop")


def test_a_member_signs_in_and_finds_the_pages_usable_on_a_phone(open_page, screenshot, owner, organization):
    # given a visitor on the sign-in page
    page = open_page(viewport=DESKTOP)
    page.goto("/accounts/login/")
    screenshot(page, "login")

    # when they press Tab first
    page.keyboard.press("Tab")

    # then the skip link is the first stop, and visible
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    # when they give their email (no SSO for their domain), then their password
    page.get_by_label("Work email").fill(owner.email)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(owner.email)
    page.get_by_label("Password").fill("correct-horse-battery-staple")
    page.get_by_role("main").get_by_role("button", name="Sign In").click()

    # then they see their organization's dashboard
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(organization.name)
    expect(page.get_by_role("heading", name="Recent activity")).to_be_visible()
    screenshot(page, "dashboard")

    # and the same pages fit a phone's screen
    phone = open_page(viewport=PHONE, storage_state=page.context.storage_state())
    for path, name in (("/dashboard/", "dashboard-phone"), ("/account/organization/", "organization-phone")):
        phone.goto(path)
        assert _fits_the_screen(phone), f"{path} scrolls sideways on a phone"
        screenshot(phone, name)
