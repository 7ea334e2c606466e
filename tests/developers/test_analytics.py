"""The publisher's analytics: charts of installs, active installs by version and region, ratings, revenue; CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.billing.models import LedgerEntry, LedgerKind
from apps.marketplace.models import AnalyticsEvent, EventKind, Review
from apps.marketplace.services import record_analytics_event
from tests.factories.accounts import OrganizationFactory
from tests.factories.marketplace import PublisherFactory, make_installation, publish_extension

pytestmark = pytest.mark.django_db

ANALYTICS = "/developers/analytics/"


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def extension(publisher):
    return publish_extension(publisher=publisher, slug="acme.tickets")


def test_the_page_draws_every_chart_with_its_data_and_a_csv_link(
    developer_browser, publisher, extension, django_assert_max_num_queries
):
    # given
    for _ in range(3):
        customer = OrganizationFactory(home_region_code="eu-west")
        make_installation(organization=customer, extension=extension)
        record_analytics_event(extension=extension, kind=EventKind.INSTALL, organization=customer)
    # when
    with django_assert_max_num_queries(20):
        response = developer_browser.get(ANALYTICS)
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert "vendor/chartjs/chart.umd.min.js" in body
    for key in ("installs", "by-version", "by-region", "ratings"):
        assert f'id="chart-data-{key}"' in body
        assert reverse("developers:analytics_csv", args=[key]) in body


def test_the_installs_csv_has_a_row_per_day_with_installs_and_uninstalls(developer_browser, publisher, extension):
    # given
    record_analytics_event(extension=extension, kind=EventKind.INSTALL, quantity=3)
    record_analytics_event(extension=extension, kind=EventKind.UNINSTALL)
    # when
    response = developer_browser.get(reverse("developers:analytics_csv", args=["installs"]))
    # then
    rows = _csv(response)
    assert response["Content-Type"].startswith("text/csv")
    assert rows[0] == ["label", "installs", "uninstalls"]
    assert len(rows) == 31
    assert rows[-1] == [timezone.now().date().isoformat(), "3", "1"]


def test_active_installs_are_counted_by_version_and_region(developer_browser, publisher, extension):
    # given
    make_installation(organization=OrganizationFactory(home_region_code="eu-west"), extension=extension)
    make_installation(organization=OrganizationFactory(home_region_code="us-east"), extension=extension)
    make_installation(
        organization=OrganizationFactory(home_region_code="us-east"), extension=extension, status="uninstalled"
    )
    # when
    by_version = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["by-version"])))
    by_region = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["by-region"])))
    # then
    assert by_version[1:] == [["acme.tickets@1.0.0", "2"]]
    assert sorted(by_region[1:]) == [["eu-west", "1"], ["us-east", "1"]]


def test_ratings_count_visible_reviews_per_star(developer_browser, publisher, extension):
    # given
    for rating, status in ((5, "visible"), (5, "visible"), (1, "hidden")):
        Review.objects.create(
            organization=OrganizationFactory(),
            extension=extension,
            version=extension.latest_version,
            rating=rating,
            status=status,
        )
    # when
    rows = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["ratings"])))
    # then
    assert rows[1] == ["1 star", "0"]
    assert rows[5] == ["5 stars", "2"]


def test_revenue_comes_from_billings_ledger(developer_browser, publisher, extension):
    # given two sales of the publisher's extension this month, booked in billing's ledger (cents)
    now = timezone.now()
    buyer = OrganizationFactory()
    for n, (gross, net) in enumerate(((10_000, 8_000), (2_000, 1_600))):
        LedgerEntry.objects.create(
            publisher=publisher,
            extension=extension,
            organization=buyer,
            kind=LedgerKind.SALE,
            currency="usd",
            gross=gross,
            fee=gross - net,
            net=net,
            source_id=f"pi_test_{n}",
            occurred_at=now,
        )
    # when
    rows = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["revenue"])))
    # then the month adds both up, in dollars
    assert rows == [["label", "gross", "net"], [now.strftime("%Y-%m"), "120.0", "96.0"]]


def test_another_publishers_numbers_are_not_counted(developer_browser, publisher, extension):
    # given
    rival = publish_extension(publisher=PublisherFactory(slug="rival"), slug="rival.thing")
    record_analytics_event(extension=rival, kind=EventKind.INSTALL, quantity=50)
    # when
    rows = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["installs"])))
    # then
    assert sum(int(r[1]) for r in rows[1:]) == 0
    assert AnalyticsEvent.objects.count() == 1


def test_an_unknown_series_is_not_found(developer_browser, publisher):
    assert developer_browser.get(reverse("developers:analytics_csv", args=["secrets"])).status_code == 404


def test_a_csv_cell_that_looks_like_a_formula_is_quoted(developer_browser, publisher, extension):
    # given
    make_installation(organization=OrganizationFactory(home_region_code="=cmd|x"), extension=extension)
    # when
    rows = _csv(developer_browser.get(reverse("developers:analytics_csv", args=["by-region"])))
    # then
    assert rows[1][0] == "'=cmd|x"


def test_a_viewer_may_not_see_analytics(viewer_browser, publisher):
    assert viewer_browser.get(ANALYTICS).status_code == 403
    assert viewer_browser.get(reverse("developers:analytics_csv", args=["installs"])).status_code == 403


def test_an_organization_that_is_not_a_publisher_gets_no_analytics(developer_browser):
    assert developer_browser.get(ANALYTICS).status_code == 404
