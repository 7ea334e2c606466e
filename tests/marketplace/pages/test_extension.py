from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Organization
from apps.marketplace.models import Extension
from apps.marketplace.views import price_text
from tests.factories.accounts import OrganizationFactory
from tests.factories.marketplace import (
    ReviewFactory,
    add_published_version,
    make_installation,
    manifest,
    publish_extension,
)
from tests.marketplace.pages.conftest import INVALID, signed_in


def _url(extension: Extension) -> str:
    return reverse("marketplace:extension", args=[extension.slug])


def test_a_visitor_reads_the_extension_page(client: Client, extension: Extension) -> None:
    # given a published connector

    # when a visitor opens its page
    response = client.get(_url(extension))

    # then it shows what it is, what it may do in plain words, its plan, links, versions and a way to install
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    assert "<h1>Acme Tickets</h1>" in body
    assert "Sync tickets between Acme and your service desk." in body
    assert "See your connectors and their health." in body
    assert "Send data to api.acme.io." in body
    assert "Handle internal business information" in body
    assert "Free" in body
    assert 'href="https://acme.io/privacy"' in body
    assert "1.0.0" in body
    assert "Sign in to install" in body


def test_an_unknown_or_delisted_extension_is_not_found(client: Client, extension: Extension) -> None:
    # given a delisted extension
    Extension.objects.filter(pk=extension.pk).update(is_delisted=True)

    # then neither it nor a made-up one has a page
    assert client.get(_url(extension)).status_code == 404
    assert client.get("/marketplace/extensions/nobody.nothing/").status_code == 404


def test_markdown_in_the_description_is_rendered_and_scripts_are_removed(client: Client, db: None) -> None:
    # given a publisher who put Markdown and HTML tricks in the description
    evil = (
        "**Fast** sync. <script>alert('x')</script> <img src=x onerror=alert(1)> "
        "[click](javascript:alert(1)) [docs](https://acme.io/docs)"
    )
    extension = publish_extension(slug="evil.sync", description=evil)

    # when a visitor opens the page
    body = Client().get(_url(extension)).content.decode()

    # then the Markdown is formatted and nothing can run
    assert "<strong>Fast</strong>" in body
    main = body.split('id="about-title"', 1)[1].split("</section>", 1)[0]
    assert "alert(" not in main
    assert "<img" not in body
    assert "<script>alert" not in body
    assert 'href="javascript:' not in body
    assert 'href="https://acme.io/docs"' in main


def test_a_non_web_link_in_the_manifest_is_not_linked(client: Client, db: None) -> None:
    # given a manifest whose homepage is a javascript: URL
    extension = publish_extension(slug="evil.links", links={"homepage": "javascript:alert(1)"})

    # when the page is shown, then the link is left out
    assert "javascript:" not in client.get(_url(extension)).content.decode()


def test_reviews_are_shown_escaped(client: Client, extension: Extension, organization: Organization) -> None:
    # given a review with HTML in it
    ReviewFactory(
        organization=organization,
        extension=extension,
        rating=4,
        title="<b>Great</b>",
        body="<script>alert(1)</script>Works well",
    )

    # when a visitor reads the reviews
    body = client.get(_url(extension)).content.decode()

    # then the text is shown as text
    assert "&lt;b&gt;Great&lt;/b&gt;" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Works well" in body
    assert "<script>alert(1)" not in body


def test_the_changelog_of_each_version_is_shown(client: Client, extension: Extension) -> None:
    # given a second version with a changelog
    add_published_version(
        extension=extension, manifest_data=manifest(id=extension.slug, version="1.2.0", changelog="- Adds *retries*")
    )

    # when the page is shown
    body = client.get(_url(extension)).content.decode()

    # then both versions are listed, the new one with its rendered notes
    assert "1.2.0" in body
    assert "1.0.0" in body
    assert "<em>retries</em>" in body


def test_a_member_whose_organization_installed_it_is_sent_to_manage_it(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # given the organization installed the extension
    installation = make_installation(organization=organization, extension=extension)

    # when an admin opens the page
    body = admin_client_of_org.get(_url(extension)).content.decode()

    # then it offers to manage the installation and to review it
    assert reverse("marketplace:installation", args=[installation.pk]) in body
    assert "Write a review" in body
    assert "Report a problem" in body


def test_a_viewer_is_not_offered_the_install_button(extension: Extension, viewer_client_of_org: Client) -> None:
    # when a viewer opens the page
    body = viewer_client_of_org.get(_url(extension)).content.decode()

    # then they are told to ask an admin
    assert "Ask an admin of your organization to install it." in body
    assert reverse("marketplace:install", args=[extension.slug]) not in body


def test_the_extension_page_queries_do_not_grow_with_reviews_and_versions(
    extension: Extension, organization: Organization, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    # given many versions and reviews from many organizations
    for minor in range(1, 8):
        add_published_version(
            extension=extension, manifest_data=manifest(id=extension.slug, version=f"1.{minor}.0", changelog="Fixes.")
        )
    extension.refresh_from_db()
    for _ in range(12):
        ReviewFactory(organization=OrganizationFactory(), extension=extension, rating=5)
    make_installation(organization=organization, extension=extension)

    # when a signed-in admin opens the page, then the queries stay fixed
    with django_assert_max_num_queries(14):
        response = admin_client_of_org.get(_url(extension))
    body = response.content.decode()
    assert body.count('<li class="review">') == 12
    assert body.count("Fixes.") == 7


def test_an_anonymous_extension_page_is_cheap(
    client: Client, extension: Extension, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(4):
        assert client.get(_url(extension)).status_code == 200


def test_another_organizations_member_does_not_see_this_ones_installation(
    extension: Extension, organization: Organization, make_member: Any
) -> None:
    # given the extension is installed in one organization
    make_installation(organization=organization, extension=extension)
    stranger = signed_in(make_member(OrganizationFactory(), "admin"))

    # when an admin of another organization opens the page, then they may install it themselves
    body = stranger.get(_url(extension)).content.decode()
    assert reverse("marketplace:install", args=[extension.slug]) in body
    assert "Installed: manage" not in body


@pytest.mark.parametrize(
    ("plan", "text"),
    [
        ({"id": "free", "name": "Free", "model": "free"}, "Free"),
        ({"id": "once", "name": "Once", "model": "one_time", "amount": 4900, "currency": "eur"}, "EUR 49.00 once"),
        (
            {"id": "pro", "name": "Pro", "model": "subscription", "amount": 1200, "interval": "year", "perSeat": True},
            "USD 12.00 a year per seat",
        ),
        (
            {"id": "meter", "name": "Metered", "model": "usage", "meter": "api_calls", "tiers": [{"unitAmount": 2}]},
            "USD 0.02 per api calls",
        ),
        ({"id": "odd", "name": "Odd", "model": "usage", "tiers": ["not a tier"]}, "Price on request per unit"),
    ],
)
def test_plan_prices_read_as_words(plan: dict[str, Any], text: str) -> None:
    assert price_text(plan) == text


def test_a_manifest_with_odd_links_and_pricing_still_has_a_page(client: Client, extension: Extension) -> None:
    # given a stored manifest whose links and pricing have the wrong shapes
    version = extension.latest_version
    version.manifest = {**version.manifest, "links": ["https://acme.io"], "pricing": "free", "support": None}
    version.save(update_fields=["manifest"])

    # then the page still renders, with the default free plan
    response = client.get(_url(extension))
    assert response.status_code == 200
    assert "The publisher lists no support or privacy links." in response.content.decode()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_the_extension_page_shows_the_screenshots_from_its_package(client: Client, db: None) -> None:
    # given an extension whose package carries a screenshot
    extension = publish_extension(
        slug="acme.board",
        screenshots=[{"path": "shots/board.png", "caption": "The <b>board</b>"}],
        files={"shots/board.png": PNG},
    )
    # when a visitor opens its page and the picture
    page = client.get(_url(extension))
    picture = client.get(reverse("marketplace:screenshot", args=[extension.slug, 1]))
    # then the picture is on the page, captioned (escaped), and served as a PNG that cannot be sniffed
    html = page.content.decode()
    assert reverse("marketplace:screenshot", args=[extension.slug, 1]) in html
    assert "The &lt;b&gt;board&lt;/b&gt;" in html
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/png"
    assert picture["X-Content-Type-Options"] == "nosniff"
    assert picture.content == PNG


@pytest.mark.parametrize("number", [0, 2, 99])
def test_a_screenshot_number_the_manifest_does_not_have_is_not_found(client: Client, db: None, number: int) -> None:
    extension = publish_extension(
        slug="acme.board", screenshots=[{"path": "shots/board.png"}], files={"shots/board.png": PNG}
    )

    response = client.get(reverse("marketplace:screenshot", args=[extension.slug, number]))

    assert response.status_code == 404


def test_a_screenshot_whose_file_is_not_a_picture_is_not_served(client: Client, db: None) -> None:
    # given a package made outside the pipeline, whose "screenshot" is markup
    extension = publish_extension(
        slug="acme.board", screenshots=[{"path": "shots/board.png"}], files={"shots/board.png": b"<script>x</script>"}
    )

    response = client.get(reverse("marketplace:screenshot", args=[extension.slug, 1]))

    assert response.status_code == 404
