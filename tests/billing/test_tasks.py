"""Billing's scheduled tasks: thin, idempotent, and quiet about Stripe outages (they retry later)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from apps.billing import services, tasks
from apps.billing.models import BillingCustomer, Statement, UsageRecord
from tests.factories.marketplace import make_installation

pytestmark = pytest.mark.django_db


def test_the_monthly_job_closes_the_previous_calendar_month(paid_extension, stripe_recorder, monkeypatch):
    # given a line in May and one in June, and the job running on June 1st
    for source, day in (
        ("ch_may", dt.datetime(2026, 5, 31, 23, 0, tzinfo=dt.UTC)),
        ("ch_jun", dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)),
    ):
        services.record_ledger_entry(
            extension=paid_extension,
            organization=paid_extension.publisher.organization,
            kind="sale",
            plan_id="pro",
            currency="usd",
            gross=1000,
            fee_percent=Decimal(0),
            source_id=source,
            occurred_at=day,
        )
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2026, 6, 1, 5, 7, tzinfo=dt.UTC))
    # when
    assert tasks.close_statements_task() == 1
    # then only May was stated
    statement = Statement.objects.get()
    assert (statement.period_start, statement.period_end) == (dt.date(2026, 5, 1), dt.date(2026, 6, 1))
    assert list(statement.entries.values_list("source_id", flat=True)) == ["ch_may"]


def test_syncing_the_plans_of_a_missing_version_does_nothing():
    assert tasks.sync_billing_plans_task(str(uuid.uuid4())) == 0


def test_a_usage_report_stripe_refuses_stays_pending_for_the_sweep(organization, paid_extension, stripe_recorder):
    # given Stripe refuses meter events
    stripe_recorder.routes = [r for r in stripe_recorder.routes if "meter_events" not in r[1].pattern]
    BillingCustomer.objects.create(organization=organization, stripe_customer_id="cus_1")
    installation = make_installation(organization=organization, extension=paid_extension, plan="metered")
    record = services.record_usage(installation=installation, event_id="e1", quantity=2)
    assert record is not None
    # when
    reported = tasks.report_usage_task(str(record.pk))
    # then
    assert reported is False
    assert UsageRecord.objects.get().reported_at is None


def test_a_customerless_organizations_usage_says_why_it_was_not_reported(organization, paid_extension, stripe_recorder):
    installation = make_installation(organization=organization, extension=paid_extension, plan="metered")
    record = services.record_usage(installation=installation, event_id="e1", quantity=2)
    assert record is not None
    assert tasks.report_usage_task(str(record.pk)) is False
    assert "no Stripe customer" in UsageRecord.objects.get().report_error
    assert stripe_recorder.requests == []
