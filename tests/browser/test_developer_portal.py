"""A developer's path through the portal in a real browser: onboard, upload a version that a rule rejects,
read why, fix it, upload again and publish; then the main pages, on a desktop and on a phone."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.marketplace.models import ExtensionVersion, VersionStatus
from tests.browser.conftest import PHONE
from tests.factories.accounts import MembershipFactory
from tests.factories.marketplace import (
    PublisherFactory,
    add_published_version,
    build_package,
    manifest,
    publish_extension,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET_FILE = {"notes.txt": "aws_secret_access_key = AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def _package_file(data: bytes, name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "application/zip", "buffer": data}


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_a_developer_onboards_fixes_a_rejected_version_and_publishes(open_signed_in_page, screenshot):
    # given a developer of an organization that is not a publisher yet
    developer = MembershipFactory(role=Role.DEVELOPER).user
    page = open_signed_in_page(developer)
    page.goto("/developers/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Become a publisher")
    screenshot(page, "developers-onboarding")

    # when they fill in the publisher profile and accept the terms, using the keyboard for the checkbox
    page.get_by_label("Publisher name").fill("Acme")
    page.get_by_label("Publisher id").fill("acme")
    page.get_by_label("I accept the publisher terms", exact=False).focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Create publisher profile").click()

    # then they land on the upload page
    expect(page).to_have_url(re.compile(r"/developers/upload/$"))
    screenshot(page, "developers-upload")

    # when they upload a package that commits a secret
    page.get_by_label("Extension package (.zip)").set_input_files(
        _package_file(build_package(files=SECRET_FILE), "acme-tickets-1.0.0.zip")
    )
    page.get_by_role("button", name="Upload and start the review").click()

    # then the version page says it is rejected, by which rule, where, and how to fix it
    expect(page.locator("[data-version-status]")).to_have_attribute("data-version-status", "rejected")
    expect(page.get_by_role("alert")).to_contain_text("MKT-S006")
    finding = page.locator(".finding--blocking").first
    expect(finding).to_contain_text("MKT-S006")
    expect(finding).to_contain_text("notes.txt")
    expect(finding).to_contain_text("How to fix:")
    screenshot(page, "developers-version-rejected")

    # when they remove the secret, raise the version and upload it to publish by hand
    page.get_by_role("link", name="Upload another version").click()
    page.get_by_label("Extension package (.zip)").set_input_files(
        _package_file(build_package(manifest(version="1.0.1")), "acme-tickets-1.0.1.zip")
    )
    page.get_by_label("Publish automatically once the version passes review").uncheck()
    page.get_by_role("button", name="Upload and start the review").click()

    # then it passed and waits for them
    expect(page.locator("[data-version-status]")).to_have_attribute("data-version-status", "passed")
    screenshot(page, "developers-version-passed")

    # when they publish it
    page.get_by_role("button", name="Publish 1.0.1").click()

    # then it is published
    expect(page.locator("[data-version-status]")).to_have_attribute("data-version-status", "published")
    expect(page.locator(".alert--success").first).to_contain_text("is published")
    version = ExtensionVersion.objects.get(extension__slug="acme.tickets", version="1.0.1")
    assert version.status == VersionStatus.PUBLISHED
    screenshot(page, "developers-version-published")

    # and the main pages render, on a desktop and on a phone
    for path, name in (
        ("/developers/", "developers-overview"),
        ("/developers/analytics/", "developers-analytics"),
        ("/developers/credentials/", "developers-credentials"),
        ("/developers/support/", "developers-support"),
        ("/developers/docs/getting-started/", "developers-docs"),
        ("/developers/docs/manifest-reference/", "developers-manifest-reference"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        screenshot(page, name)
    phone = open_signed_in_page(developer, viewport=PHONE)
    for path, name in (
        ("/developers/", "developers-overview-phone"),
        ("/developers/versions/" + str(version.pk) + "/", "developers-version-phone"),
        ("/developers/docs/webhooks/", "developers-docs-phone"),
    ):
        phone.goto(path)
        assert _fits_the_screen(phone), path
        screenshot(phone, name)


def test_the_docs_search_highlights_matches(open_page, screenshot):
    # given a visitor who is not signed in
    page = open_page()
    page.goto("/developers/docs/")
    # when they search
    page.get_by_label("Search the docs").fill("Nofx-Signature")
    page.keyboard.press("Enter")
    # then the webhooks guide is found with the words marked
    expect(page.get_by_role("link", name="Webhooks and signatures").last).to_be_visible()
    expect(page.locator("mark").first).to_have_text(re.compile("Nofx-Signature", re.I))
    screenshot(page, "developers-docs-search")


def test_the_version_page_follows_the_review_live_without_a_reload(open_signed_in_page, screenshot):
    # given a version whose review is still running
    developer = MembershipFactory(role=Role.DEVELOPER).user
    publisher = PublisherFactory(organization=developer.memberships.get().organization, slug="acme")
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    version = add_published_version(
        extension=extension, manifest_data=manifest(version="1.2.0"), status=VersionStatus.SCANNING
    )
    version.steps = {"upload": {"status": "done"}, "validate": {"status": "passed"}, "scanning": {"status": "running"}}
    version.save()
    page = open_signed_in_page(developer)
    page.goto(f"/developers/versions/{version.pk}/")
    expect(page.locator("[data-version-status]")).to_have_attribute("data-version-status", "scanning")
    expect(page.get_by_text("this page updates by itself")).to_be_visible()

    # when the pipeline rejects it in the background
    version.status = VersionStatus.REJECTED
    version.status_reason = "MKT-S009 (connector.json): Egress to 10.0.0.1 is private."
    version.steps = {**version.steps, "scan": {"status": "failed", "at": timezone.now().isoformat()}}
    version.findings = [
        {
            "rule_id": "MKT-S009",
            "title": "Egress goes to no private, loopback or link-local address",
            "severity": "error",
            "message": "Egress to 10.0.0.1 is private.",
            "file": "connector.json",
            "step": "scan",
            "blocking": True,
            "mode": "enforced",
        }
    ]
    version.save()

    # then htmx brings the new state in without a reload
    expect(page.locator("[data-version-status]")).to_have_attribute("data-version-status", "rejected", timeout=10_000)
    expect(page.locator(".finding--blocking")).to_contain_text("Contact only public hosts")
    screenshot(page, "developers-version-live-update")
