"""The marketplace website in a real browser: search, filter, read, sign in, consent, configure, install,
manage and review; and the main pages at phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.marketplace.models import Installation, InstallationStatus, Review
from tests.browser.conftest import PHONE
from tests.factories.accounts import DEFAULT_PASSWORD, MembershipFactory
from tests.factories.marketplace import PublisherFactory, publish_extension

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _catalog() -> None:
    acme = PublisherFactory(slug="acme", name="Acme")
    publish_extension(
        publisher=acme,
        slug="acme.tickets",
        description="Sync **tickets** between Acme and your service desk.",
        changelog="- First release",
    )
    publish_extension(
        publisher=acme,
        slug="acme.ticket-insights",
        name="Ticket Insights",
        type="analytics",
        description="Charts of how quickly tickets are answered.",
    )
    publish_extension(
        slug="other.crm-bridge", name="CRM Bridge", description="Keeps accounts in step with CRM.", tags=["crm"]
    )


def test_a_visitor_finds_installs_and_reviews_an_extension(open_page, screenshot, organization, settings):
    # given a small catalog and an admin of an organization who is not signed in yet
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    _catalog()
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    page = open_page()

    # when the visitor searches the marketplace
    page.goto("/marketplace/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Extensions for your integrations")
    screenshot(page, "marketplace-home")
    page.get_by_label("Search extensions").fill("tickets")
    page.get_by_role("button", name="Search").click()

    # then both ticket extensions are found
    expect(page).to_have_url(re.compile(r"/marketplace/search/\?q=tickets"))
    expect(page.get_by_role("status")).to_contain_text("2 extensions")

    # when they narrow to connectors, the results change in place and the URL follows
    page.get_by_label("Type").select_option("connector")
    expect(page.get_by_role("status")).to_contain_text("1 extension")
    expect(page).to_have_url(re.compile(r"type=connector"))
    expect(page.get_by_role("link", name="Ticket Insights")).to_have_count(0)
    screenshot(page, "marketplace-search")

    # and they open the extension
    page.get_by_role("link", name="Acme Tickets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Tickets")
    expect(page.get_by_text("See your connectors and their health.")).to_be_visible()
    expect(page.locator(".prose strong")).to_have_text("tickets")
    screenshot(page, "marketplace-extension")

    # when they sign in to install it
    page.get_by_role("link", name="Sign in to install").click()
    page.get_by_label("Email").fill(admin.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("main").get_by_role("button", name=re.compile("Sign in", re.IGNORECASE)).click()

    # then they are on the consent screen
    expect(page.get_by_role("heading", level=1)).to_have_text("Install Acme Tickets")
    screenshot(page, "marketplace-install")

    # when they install without consenting or configuring, the errors sit next to the fields
    page.get_by_role("button", name="Install").click()
    expect(page.get_by_text("Tick the box to consent")).to_be_visible()
    expect(page.locator("#id_config-region_error")).to_contain_text("This field is required.")

    # and when they consent, configure and pick the free plan
    page.get_by_label("I allow this extension").check()
    with page.expect_response(re.compile(r"/install/check/$")) as checked:
        page.get_by_label("Region").select_option("eu")
    # the field was checked in place (htmx) and came back without an error, still holding the choice
    assert checked.value.status == 200
    expect(page.locator("#id_config-region_error")).to_have_count(0)
    expect(page.get_by_label("Region")).to_have_value("eu")
    page.get_by_label("Api key").fill("key-123")
    page.get_by_role("radio", name=re.compile("Free")).check()
    page.get_by_role("button", name="Install").click()

    # then it is installed
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Tickets is installed")
    installation = Installation.objects.get(organization=organization)
    assert installation.status == InstallationStatus.ACTIVE
    assert installation.config == {"region": "eu"}

    # and it is listed under Installed
    page.get_by_role("link", name="All installed extensions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Installed extensions")
    expect(page.get_by_role("row", name=re.compile("Acme Tickets"))).to_contain_text("Active")
    screenshot(page, "marketplace-installed")
    page.get_by_role("link", name="Acme Tickets").click()
    expect(page.get_by_role("heading", name="Configuration")).to_be_visible()
    screenshot(page, "marketplace-installation")

    # when they write a review from the extension page
    page.get_by_role("link", name="Extension page").click()
    page.get_by_role("link", name="Write a review").click()
    page.get_by_role("radio", name="4 stars").check()
    page.get_by_label("Title").fill("Does what it says")
    page.get_by_label("Your review").fill("Set up in two minutes.")
    page.get_by_role("button", name="Publish review").click()

    # then it is on the extension page
    expect(page.get_by_text("Does what it says")).to_be_visible()
    assert Review.objects.get(organization=organization).rating == 4


def test_the_home_extension_and_search_pages_fit_a_phone(open_page, screenshot):
    # given a catalog
    _catalog()

    # when a visitor opens the marketplace on a phone
    phone = open_page(viewport=PHONE)
    phone.goto("/marketplace/")

    # then nothing runs off the screen
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    assert _fits_the_screen(phone)
    screenshot(phone, "marketplace-home-phone")

    # and the extension page fits too, its install button reachable from the keyboard
    phone.goto("/marketplace/extensions/acme.tickets/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Acme Tickets")
    assert _fits_the_screen(phone)
    install = phone.get_by_role("link", name="Sign in to install")
    install.focus()
    expect(install).to_be_focused()
    screenshot(phone, "marketplace-extension-phone")

    # and so does the search page, its filters above the results
    phone.goto("/marketplace/search/?q=tickets")
    expect(phone.get_by_role("status")).to_contain_text("2 extensions")
    assert _fits_the_screen(phone)
    screenshot(phone, "marketplace-search-phone")
