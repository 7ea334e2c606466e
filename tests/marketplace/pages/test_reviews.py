from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from apps.accounts.models import Organization
from apps.marketplace.models import Extension, Review, ReviewReport
from tests.factories.accounts import OrganizationFactory
from tests.factories.marketplace import ReviewFactory, make_installation
from tests.marketplace.pages.conftest import INVALID


def _url(extension: Extension) -> str:
    return reverse("marketplace:review", args=[extension.slug])


def test_an_organization_that_installed_it_writes_a_review(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # given the organization runs the extension
    make_installation(organization=organization, extension=extension)
    assert INVALID not in admin_client_of_org.get(_url(extension)).content.decode()

    # when the admin writes a review
    response = admin_client_of_org.post(_url(extension), {"rating": "4", "title": "Solid", "body": "Works."})

    # then it is published on the extension page and counts in the rating
    assert response.status_code == 302
    review = Review.objects.get(organization=organization, extension=extension)
    assert (review.rating, review.title, review.body) == (4, "Solid", "Works.")
    page = Client().get(reverse("marketplace:extension", args=[extension.slug])).content.decode()
    assert "Solid" in page
    extension.refresh_from_db()
    assert extension.rating_count == 1


def test_the_same_form_edits_the_organizations_review(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # given an existing review
    make_installation(organization=organization, extension=extension)
    admin_client_of_org.post(_url(extension), {"rating": "2", "title": "Meh"})

    # when the admin opens the form again, it is filled in; and they change it
    form_page = admin_client_of_org.get(_url(extension)).content.decode()
    assert 'value="Meh"' in form_page
    admin_client_of_org.post(_url(extension), {"rating": "5", "title": "Better now"})

    # then the one review changed
    review = Review.objects.get(organization=organization, extension=extension)
    assert (review.rating, review.title) == (5, "Better now")
    assert review.edited_at is not None


def test_a_bad_rating_is_refused_next_to_the_field(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    make_installation(organization=organization, extension=extension)

    response = admin_client_of_org.post(_url(extension), {"rating": "9", "title": "x" * 121})

    assert response.status_code == 400
    body = response.content.decode()
    assert "Select a valid choice" in body
    assert "at most 120 characters" in body
    assert not Review.objects.exists()


def test_an_organization_without_the_extension_cannot_review_it(
    extension: Extension, admin_client_of_org: Client
) -> None:
    assert "Only organizations that have this extension installed" in (
        admin_client_of_org.get(_url(extension)).content.decode()
    )
    assert admin_client_of_org.post(_url(extension), {"rating": "1"}).status_code == 403
    assert not Review.objects.exists()


def test_a_viewer_cannot_review(extension: Extension, organization: Organization, viewer_client_of_org: Client) -> None:
    make_installation(organization=organization, extension=extension)

    assert viewer_client_of_org.post(_url(extension), {"rating": "5"}).status_code == 403


def test_a_member_reports_a_review(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    # given another organization's review
    review = ReviewFactory(
        organization=OrganizationFactory(),
        extension=extension,
        rating=1,
        title="Spam",
    )
    url = reverse("marketplace:report_review", args=[review.pk])
    assert INVALID not in viewer_client_of_org.get(url).content.decode()

    # when a member reports it
    response = viewer_client_of_org.post(url, {"reason": "Advertising"})

    # then the operators have a report from this organization
    assert response.status_code == 302
    report = ReviewReport.objects.get(review=review)
    assert (report.organization, report.reason) == (organization, "Advertising")

    # and reporting twice is explained, not a crash
    again = viewer_client_of_org.post(url, {"reason": "Still spam"})
    assert again.status_code == 400
    assert "already reported" in again.content.decode()


def test_a_report_needs_a_reason(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    review = ReviewFactory(organization=organization, extension=extension, rating=3)

    response = viewer_client_of_org.post(reverse("marketplace:report_review", args=[review.pk]), {"reason": " "})

    assert response.status_code == 400
    assert not ReviewReport.objects.exists()


def test_a_hidden_review_cannot_be_reported(
    extension: Extension, organization: Organization, viewer_client_of_org: Client
) -> None:
    review = ReviewFactory(organization=organization, extension=extension, rating=3, status="hidden")

    assert viewer_client_of_org.get(reverse("marketplace:report_review", args=[review.pk])).status_code == 404


def test_the_review_form_queries_are_bounded(
    extension: Extension, organization: Organization, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    make_installation(organization=organization, extension=extension)

    with django_assert_max_num_queries(8):
        assert admin_client_of_org.get(_url(extension)).status_code == 200


def test_the_report_page_queries_are_bounded(
    extension: Extension, organization: Organization, viewer_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    review = ReviewFactory(organization=organization, extension=extension, rating=3)

    with django_assert_max_num_queries(6):
        assert viewer_client_of_org.get(reverse("marketplace:report_review", args=[review.pk])).status_code == 200
