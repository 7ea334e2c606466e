"""Reviews are gated on having (or recently having had) the extension installed; one per organization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.exceptions import Conflict, NotPermitted
from apps.marketplace import services
from apps.marketplace.models import InstallationStatus, ReportStatus, Review, ReviewStatus
from tests.factories.accounts import MembershipFactory
from tests.factories.marketplace import make_installation, publish_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def extension():
    return publish_extension(slug="pub.tickets")


def review(client, extension, **body):
    return client.post(reverse("api:review-list"), {"extension": extension.slug, "rating": 4, **body}, format="json")


def test_an_organization_that_never_installed_the_extension_cannot_review_it(owner_client, extension):
    response = review(owner_client, extension)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "not_installed"


def test_an_installed_extension_can_be_reviewed_once_tied_to_the_installed_version(
    owner_client, organization, extension
):
    make_installation(organization=organization, extension=extension)

    first = review(owner_client, extension, title="Solid", body="Works well.")
    second = review(owner_client, extension)

    assert first.status_code == 201, first.content
    assert first.json()["version"] == "1.0.0"
    assert second.status_code == 409
    extension.refresh_from_db()
    assert (extension.rating_count, extension.average_rating) == (1, 4.0)


def test_a_recently_uninstalled_extension_can_still_be_reviewed_but_not_after_the_window(
    owner_client, organization, extension, settings
):
    installation = make_installation(
        organization=organization, extension=extension, status=InstallationStatus.UNINSTALLED
    )
    installation.uninstalled_at = timezone.now() - timedelta(days=10)
    installation.save()
    assert review(owner_client, extension).status_code == 201

    Review.objects.all().delete()
    installation.uninstalled_at = timezone.now() - settings.MARKETPLACE_REVIEW_WINDOW - timedelta(days=1)
    installation.save()
    assert review(owner_client, extension).status_code == 403


def test_an_installation_that_never_activated_does_not_entitle_a_review(owner, organization, extension):
    make_installation(organization=organization, extension=extension, status=InstallationStatus.PENDING)

    with pytest.raises(NotPermitted):
        services.submit_review(organization=organization, actor=owner, extension=extension, rating=5)


def test_a_review_is_editable_and_recounted(owner_client, organization, extension):
    make_installation(organization=organization, extension=extension)
    created = review(owner_client, extension).json()

    response = owner_client.patch(
        reverse("api:review-detail", kwargs={"pk": created["id"]}), {"rating": 2}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["edited_at"] is not None
    extension.refresh_from_db()
    assert extension.average_rating == 2.0


@pytest.mark.parametrize("rating", [0, 6])
def test_a_rating_outside_one_to_five_is_refused(owner, organization, extension, rating):
    make_installation(organization=organization, extension=extension)

    with pytest.raises(Exception, match="1 to 5"):
        services.submit_review(organization=organization, actor=owner, extension=extension, rating=rating)


def test_the_publisher_replies_and_the_reply_is_public(api_client, organization, owner, extension, make_member):
    make_installation(organization=organization, extension=extension)
    created = services.submit_review(organization=organization, actor=owner, extension=extension, rating=3)
    publisher_dev = make_member(extension.publisher.organization, Role.DEVELOPER)
    api_client.force_authenticate(publisher_dev)

    response = api_client.post(
        reverse("api:publisher-review-reply", kwargs={"pk": created.pk}),
        {"text": "Thanks, fixed in 1.1"},
        format="json",
    )

    assert response.status_code == 200, response.content
    public = api_client.get(reverse("api:extension-reviews", kwargs={"slug": extension.slug})).json()
    assert public[0]["reply"] == "Thanks, fixed in 1.1"


def test_only_the_publisher_may_reply(owner, organization, extension):
    make_installation(organization=organization, extension=extension)
    created = services.submit_review(organization=organization, actor=owner, extension=extension, rating=3)

    with pytest.raises(NotPermitted):
        services.reply_to_review(review=created, actor=owner, publisher_organization=organization, text="me too")


def test_a_reported_review_upheld_by_an_operator_is_hidden_and_leaves_the_rating(
    api_client, owner, organization, extension, other_organization
):
    # given a review, reported by another organization's member
    make_installation(organization=organization, extension=extension)
    created = services.submit_review(organization=organization, actor=owner, extension=extension, rating=1)
    reporter = MembershipFactory(organization=other_organization, role=Role.VIEWER).user
    api_client.force_authenticate(reporter)
    reported = api_client.post(
        reverse("api:review-report-list"), {"review": str(created.pk), "reason": "Spam"}, format="json"
    )
    assert reported.status_code == 201, reported.content
    assert (
        api_client.post(
            reverse("api:review-report-list"), {"review": str(created.pk), "reason": "again"}, format="json"
        ).status_code
        == 409
    )

    # when an operator upholds the report
    report = created.reports.get()
    services.resolve_report(report=report, actor=None, uphold=True)

    # then
    created.refresh_from_db()
    report.refresh_from_db()
    assert (created.status, report.status) == (ReviewStatus.HIDDEN, ReportStatus.UPHELD)
    extension.refresh_from_db()
    assert extension.rating_count == 0
    assert api_client.get(reverse("api:extension-reviews", kwargs={"slug": extension.slug})).json() == []
    with pytest.raises(Conflict):
        services.resolve_report(report=report, actor=None, uphold=False)


def test_the_review_lists_run_a_constant_number_of_queries(
    owner_client, organization, api_client, django_assert_max_num_queries
):
    for n in range(4):
        extension = publish_extension(slug=f"pub.e{n}")
        make_installation(organization=organization, extension=extension)
        review(owner_client, extension)

    with django_assert_max_num_queries(6):
        mine = owner_client.get(reverse("api:review-list"))
    with django_assert_max_num_queries(4):
        public = api_client.get(reverse("api:extension-reviews", kwargs={"slug": "pub.e0"}))

    assert len(mine.json()["results"]) == 4
    assert len(public.json()) == 1
