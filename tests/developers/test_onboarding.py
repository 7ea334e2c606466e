"""Becoming a publisher and the portal's overview page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.marketplace.models import Publisher
from tests.factories.marketplace import PublisherFactory, add_published_version, manifest, publish_extension

pytestmark = pytest.mark.django_db

HOME = "/developers/"


def test_the_portal_sends_an_anonymous_visitor_to_sign_in(client):
    # when
    response = client.get(HOME)
    # then
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_developer_without_a_publisher_sees_the_onboarding_form(developer_browser, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(12):
        response = developer_browser.get(HOME)
    # then
    assert response.status_code == 200
    assert b"Become a publisher" in response.content
    assert b"accept_terms" in response.content


def test_a_developer_becomes_a_publisher_after_accepting_the_terms(developer_browser, organization):
    # when
    response = developer_browser.post(
        HOME, {"name": "Acme", "slug": "acme", "website": "https://acme.io", "accept_terms": "on"}
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("developers:upload")
    publisher = Publisher.objects.get(organization=organization)
    assert publisher.slug == "acme"
    assert publisher.accepted_terms_at is not None


def test_it_refuses_onboarding_without_accepting_the_terms(developer_browser, organization):
    # when
    response = developer_browser.post(HOME, {"name": "Acme", "slug": "acme"})
    # then
    assert response.status_code == 400
    assert not Publisher.objects.filter(organization=organization).exists()


def test_it_refuses_a_slug_another_publisher_has_taken(developer_browser, organization):
    # given
    PublisherFactory(slug="acme")
    # when
    response = developer_browser.post(HOME, {"name": "Acme", "slug": "acme", "accept_terms": "on"})
    # then
    assert response.status_code == 409
    assert b"That publisher slug is taken." in response.content


def test_a_viewer_may_not_use_the_portal(viewer_browser, publisher):
    # when
    response = viewer_browser.get(HOME)
    # then
    assert response.status_code == 403


def test_the_overview_shows_the_verification_state_and_extensions(
    developer_browser, publisher, django_assert_max_num_queries
):
    # given
    for n in range(3):
        publish_extension(publisher=publisher, slug=f"acme.ext-{n}")
    # when
    with django_assert_max_num_queries(25):
        response = developer_browser.get(HOME)
    # then
    assert response.status_code == 200
    assert b"Verified publisher" in response.content
    assert b"acme.ext-2" in response.content


def test_a_publisher_updates_its_profile(developer_browser, publisher):
    # when
    response = developer_browser.post(reverse("developers:profile"), {"name": "Acme Labs", "website": ""})
    # then
    assert response.status_code == 302
    publisher.refresh_from_db()
    assert publisher.name == "Acme Labs"


def test_the_overview_escapes_a_publisher_name_with_markup(developer_browser, publisher):
    # given
    publisher.name = "<script>alert(1)</script>"
    publisher.save()
    # when
    response = developer_browser.get(HOME)
    # then
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_an_extension_page_lists_its_versions_within_a_fixed_number_of_queries(
    developer_browser, publisher, django_assert_max_num_queries
):
    # given
    extension = publish_extension(publisher=publisher, slug="acme.tickets")
    for minor in range(1, 5):
        add_published_version(extension=extension, manifest_data=manifest(id="acme.tickets", version=f"1.{minor}.0"))
    # when
    with django_assert_max_num_queries(15):
        response = developer_browser.get(reverse("developers:extension", args=["acme.tickets"]))
    # then
    assert response.status_code == 200
    assert b"1.4.0" in response.content


def test_another_publishers_extension_is_not_found(developer_browser, publisher):
    # given
    publish_extension(publisher=PublisherFactory(slug="rival"), slug="rival.thing")
    # when / then
    assert developer_browser.get(reverse("developers:extension", args=["rival.thing"])).status_code == 404
