"""Revenue share and payouts: fee tiers, statements whose lines add up to the payout to the cent, the
transfer that pays it (recorded Stripe answers), Connect onboarding and the payouts page with its CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.billing import services
from apps.billing.models import LedgerEntry, PublisherAccount, Statement, StatementStatus
from apps.billing.selectors import RevenuePoint, publisher_revenue_by_month
from tests.factories.accounts import OrganizationFactory
from tests.factories.marketplace import PublisherFactory

pytestmark = pytest.mark.django_db
MAY = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)


def _line(
    extension: Any,
    kind: str,
    gross: int,
    source: str,
    *,
    percent: str = "15",
    routed: bool = False,
    when: dt.datetime = MAY,
) -> LedgerEntry:
    return services.record_ledger_entry(
        extension=extension,
        organization=OrganizationFactory(),
        kind=kind,
        plan_id="pro",
        currency="usd",
        gross=gross,
        fee_percent=Decimal(percent),
        source_id=source,
        occurred_at=when,
        routed=routed,
    )


def _month_of_lines(extension: Any) -> list[LedgerEntry]:
    # every kind of line, with amounts whose 15 % fees round both ways
    return [
        _line(extension, "sale", 3333, "ch_a"),  # fee 499.95 -> 500
        _line(extension, "sale", 4900, "cs_b", routed=True),  # paid by the destination charge itself
        _line(extension, "free", 0, "in_zero"),
        _line(extension, "discount", -333, "cs_b:discount", routed=True),  # fee -49.95 -> -50
        _line(extension, "upgrade", 1001, "in_up"),  # fee 150.15 -> 150
        _line(extension, "refund", -3333, "re_a"),  # reverses the first sale exactly
        _line(extension, "sale", 77, "ch_c"),  # fee 11.55 -> 12
    ]


def test_fees_are_free_on_the_first_million_then_fifteen_percent(paid_extension, settings):
    # given a new publisher (its account has no override)
    publisher = paid_extension.publisher
    # then
    assert services.platform_fee_percent(publisher) == Decimal(0)
    # when its lifetime sales reach US$1M
    _line(paid_extension, "sale", settings.BILLING_FEE_FREE_THRESHOLD_CENTS, "ch_big", percent="0")
    # then
    assert services.platform_fee_percent(publisher) == Decimal(15)
    # and an operator's override wins over the tiers
    PublisherAccount.objects.filter(publisher=publisher).update(fee_percent=Decimal("7.5"))
    assert services.platform_fee_percent(publisher) == Decimal("7.5")


@pytest.mark.parametrize(("amount", "fee"), [(3333, 500), (-3333, -500), (1001, 150), (0, 0), (77, 12), (1, 0)])
def test_fees_round_half_up_to_the_cent_symmetrically(amount, fee):
    assert services.fee_of(amount, Decimal(15)) == fee


def test_a_statements_lines_add_up_to_the_payout_to_the_cent(paid_extension, stripe_recorder):
    # given a month of lines of every kind
    lines = _month_of_lines(paid_extension)
    # when the period is closed
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # then the statement is the sum of its lines
    assert statement.entries.count() == len(lines)
    assert statement.gross == sum(line.gross for line in lines) == 5645
    assert statement.fee == sum(line.fee for line in lines) == 847
    assert statement.net == sum(line.net for line in lines) == 4798
    for line in lines:
        assert line.gross - line.fee == line.net
    # and the payout is the net: what the destination charges already moved plus one transfer for the rest
    (transfer,) = stripe_recorder.made("POST", "/v1/transfers")
    assert statement.status == StatementStatus.PAID
    assert statement.routed == (4900 - 735) + (-333 + 50)
    assert int(transfer.params["amount"]) == statement.net - statement.routed == statement.transferred
    assert statement.routed + statement.transferred == statement.net
    assert transfer.params["destination"] == "acct_Publisher1"
    assert transfer.params["currency"] == "usd"
    assert transfer.params["metadata[statement_id]"] == str(statement.pk)


def test_closing_a_period_again_pays_nothing_twice(paid_extension, stripe_recorder):
    # given a closed and paid period
    _month_of_lines(paid_extension)
    services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # when the job runs again
    again = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # then
    assert again == []
    assert len(stripe_recorder.made("POST", "/v1/transfers")) == 1


def test_lines_outside_the_period_wait_for_their_own_statement(paid_extension, stripe_recorder):
    # given a line in June
    _line(paid_extension, "sale", 1000, "ch_june", when=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    _line(paid_extension, "sale", 1000, "ch_may")
    # when May closes
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # then
    assert list(statement.entries.values_list("source_id", flat=True)) == ["ch_may"]


def test_a_publisher_without_finished_onboarding_is_not_paid(paid_extension, stripe_recorder):
    # given
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(payouts_enabled=False)
    _line(paid_extension, "sale", 1000, "ch_1")
    # when
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # then
    assert statement.status == StatementStatus.FAILED
    assert stripe_recorder.made("POST", "/v1/transfers") == []


def test_a_period_of_only_refunds_transfers_nothing(paid_extension, stripe_recorder):
    # given
    _line(paid_extension, "refund", -1000, "re_1")
    # when
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    # then
    assert statement.status == StatementStatus.EMPTY
    assert statement.net == -850
    assert stripe_recorder.made("POST", "/v1/transfers") == []


def test_revenue_by_month_reads_the_ledger(paid_extension):
    # given
    _month_of_lines(paid_extension)
    _line(paid_extension, "sale", 1000, "ch_june", when=dt.datetime(2026, 6, 3, tzinfo=dt.UTC))
    # when
    points = publisher_revenue_by_month(publisher=paid_extension.publisher, since=dt.date(2026, 5, 15))
    # then
    assert points == [
        RevenuePoint(month=dt.date(2026, 5, 1), gross=Decimal("56.45"), net=Decimal("47.98"), currency="usd"),
        RevenuePoint(month=dt.date(2026, 6, 1), gross=Decimal("10.00"), net=Decimal("8.50"), currency="usd"),
    ]
    assert publisher_revenue_by_month(publisher=PublisherFactory(), since=dt.date(2026, 1, 1)) == []


# -- The payouts page ----------------------------------------------------------------------------------


@pytest.fixture
def publisher_owner(paid_extension: Any, make_member: Any) -> Any:
    return make_member(paid_extension.publisher.organization, Role.OWNER)


def test_the_payouts_page_is_where_the_portal_links_to():
    assert reverse("billing:payouts") == "/developers/payouts/"


def test_the_payouts_page_shows_connect_status_and_statements(
    client, paid_extension, publisher_owner, stripe_recorder, django_assert_max_num_queries
):
    # given two closed periods
    _month_of_lines(paid_extension)
    services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    _line(paid_extension, "sale", 1000, "ch_june", when=dt.datetime(2026, 6, 3, tzinfo=dt.UTC))
    services.close_statements(period_start=dt.date(2026, 6, 1), period_end=dt.date(2026, 7, 1))
    client.force_login(publisher_owner)
    # when
    with django_assert_max_num_queries(14):
        response = client.get(reverse("billing:payouts"))
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert "Payouts enabled" in body
    assert "acct_Publisher1" in body
    assert "47.98" in body
    assert "8.50" in body
    for statement in Statement.objects.all():
        assert reverse("billing:statement-csv", args=[statement.pk]) in body


def test_the_statement_csv_lists_every_line_and_adds_up_to_the_payout(
    client, paid_extension, publisher_owner, stripe_recorder
):
    # given
    _month_of_lines(paid_extension)
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    client.force_login(publisher_owner)
    # when
    response = client.get(reverse("billing:statement-csv", args=[statement.pk]))
    # then every line is there, fees as lines of their own, and the amounts add up to the payout
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    lines = [row for row in rows if row["date"] != "payout"]
    assert response["Content-Type"] == "text/csv"
    assert [(row["kind"], row["source"]) for row in lines] == [
        ("sale", "ch_a"),
        ("fee", "ch_a:fee"),
        ("sale", "ch_c"),
        ("fee", "ch_c:fee"),
        ("sale", "cs_b"),
        ("fee", "cs_b:fee"),
        ("discount", "cs_b:discount"),
        ("fee", "cs_b:discount:fee"),
        ("upgrade", "in_up"),
        ("fee", "in_up:fee"),
        ("free", "in_zero"),
        ("refund", "re_a"),
        ("fee", "re_a:fee"),
    ]
    assert sum(Decimal(row["amount"]) for row in lines) == Decimal("47.98")
    assert [row["amount"] for row in rows if row["date"] == "payout"] == ["47.98"]
    assert [row["amount"] for row in lines if row["source"] == "re_a:fee"] == ["5.00"]


def test_another_publishers_statement_is_not_found(client, paid_extension, stripe_recorder, make_member):
    # given a statement of the extension's publisher, and the owner of another publisher
    _line(paid_extension, "sale", 1000, "ch_1")
    (statement,) = services.close_statements(period_start=dt.date(2026, 5, 1), period_end=dt.date(2026, 6, 1))
    other = PublisherFactory()
    client.force_login(make_member(other.organization, Role.OWNER))
    # when / then
    assert client.get(reverse("billing:statement-csv", args=[statement.pk])).status_code == 404


def test_a_viewer_cannot_see_payouts(client, paid_extension, make_member):
    client.force_login(make_member(paid_extension.publisher.organization, Role.VIEWER))
    assert client.get(reverse("billing:payouts")).status_code == 403


def test_an_organization_that_does_not_publish_has_no_payouts(client, owner):
    client.force_login(owner)
    assert client.get(reverse("billing:payouts")).status_code == 404


def test_onboarding_creates_an_express_account_and_sends_the_publisher_to_stripe(
    client, paid_extension, publisher_owner, stripe_recorder
):
    # given a publisher that never connected
    publisher = paid_extension.publisher
    PublisherAccount.objects.filter(publisher=publisher).delete()
    client.force_login(publisher_owner)
    # when
    response = client.post(reverse("billing:onboarding"))
    # then
    assert response.status_code == 302
    assert response["Location"] == "https://connect.stripe.com/setup/e/acct_Recorded1/abc"
    (account,) = stripe_recorder.made("POST", "/v1/accounts")
    assert account.params["type"] == "express"
    assert account.params["capabilities[transfers][requested]"] == "true"
    (link,) = stripe_recorder.made("POST", "/v1/account_links")
    assert link.params["account"] == "acct_Recorded1"
    assert link.params["type"] == "account_onboarding"
    assert link.params["return_url"] == "http://testserver/developers/payouts/onboarding/return/"
    # and coming back reads the account's state from Stripe
    client.get(reverse("billing:onboarding-return"))
    account_row = PublisherAccount.objects.get(publisher=publisher)
    assert (account_row.charges_enabled, account_row.payouts_enabled) == (True, True)


def test_onboarding_takes_only_post(client, publisher_owner, stripe_recorder):
    client.force_login(publisher_owner)
    assert client.get(reverse("billing:onboarding")).status_code == 405
    assert stripe_recorder.requests == []
