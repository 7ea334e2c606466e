"""Usage-based billing: reports from installed extensions land in our ledger once per id and reach Stripe's
meter (recorded answers) with our ledger id as the meter event identifier; the customer sees the cost."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.billing.models import BillingCustomer, BillingPlan, UsageRecord
from apps.billing.selectors import tiered_cost
from apps.marketplace.services.installations import hash_install_token
from tests.factories.marketplace import make_installation

pytestmark = pytest.mark.django_db
TOKEN = "nxi_" + "u" * 40


def _metered_installation(organization: Any, extension: Any, plan: str = "metered") -> Any:
    BillingCustomer.objects.create(organization=organization, stripe_customer_id="cus_Metered1")
    return make_installation(
        organization=organization, extension=extension, plan=plan, token_hash=hash_install_token(TOKEN)
    )


def _report(api_client: Any, event_id: str, quantity: int) -> Any:
    return api_client.post(
        "/api/v1/extension-usage/",
        {"id": event_id, "quantity": quantity},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )


def test_usage_reported_twice_is_billed_once(
    api_client, organization, paid_extension, stripe_recorder, django_capture_on_commit_callbacks
):
    # given an installation on the metered plan
    installation = _metered_installation(organization, paid_extension)
    # when the extension reports the same event twice
    with django_capture_on_commit_callbacks(execute=True):
        first = _report(api_client, "evt-42", 120)
    with django_capture_on_commit_callbacks(execute=True):
        second = _report(api_client, "evt-42", 120)
    # then it is on the ledger once, and Stripe's meter heard of it once, under our ledger id
    assert (first.status_code, second.status_code) == (202, 202)
    (record,) = UsageRecord.objects.all()
    assert (record.installation_id, record.quantity, record.meter) == (installation.pk, 120, "api_calls")
    assert record.reported_at is not None
    (meter_event,) = stripe_recorder.made("POST", "/v1/billing/meter_events")
    assert meter_event.params["identifier"] == str(record.pk)
    assert meter_event.params["event_name"] == f"{paid_extension.slug.replace('.', '_')}__api_calls"
    assert meter_event.params["payload[stripe_customer_id]"] == "cus_Metered1"
    assert meter_event.params["payload[value]"] == "120"


def test_the_sweep_reports_what_stripe_missed_and_nothing_twice(organization, paid_extension, stripe_recorder):
    # given a record whose immediate report did not happen (Stripe was down)
    from apps.billing.services import record_usage
    from apps.billing.tasks import report_pending_usage_task

    installation = _metered_installation(organization, paid_extension)
    record_usage(installation=installation, event_id="e1", quantity=5)
    # when the sweep runs twice
    assert report_pending_usage_task() == 1
    assert report_pending_usage_task() == 0
    # then
    assert len(stripe_recorder.made("POST", "/v1/billing/meter_events")) == 1


def test_usage_on_a_plan_without_a_meter_records_nothing(api_client, organization, paid_extension, stripe_recorder):
    # given an installation on the one-time plan (no meter)
    _metered_installation(organization, paid_extension, plan="pro")
    # when
    response = _report(api_client, "evt-1", 3)
    # then the report is accepted (analytics) but nothing is billed
    assert response.status_code == 202
    assert not UsageRecord.objects.exists()
    assert stripe_recorder.requests == []


@pytest.mark.parametrize(
    ("quantity", "cents"),
    [(0, 0), (1, 2), (1000, 2000), (1001, 2001), (2500, 3500)],
)
def test_tiered_usage_costs_graduate_across_tiers(paid_extension, quantity, cents):
    plan = BillingPlan.objects.get(extension=paid_extension, plan_id="metered")
    assert tiered_cost(quantity, plan) == cents


def test_the_customer_sees_current_period_usage_and_cost(
    client, organization, owner, paid_extension, django_assert_max_num_queries
):
    # given usage this period
    installation = _metered_installation(organization, paid_extension)
    for n, quantity in enumerate((700, 500)):
        UsageRecord.objects.create(
            organization=organization,
            installation=installation,
            extension=paid_extension,
            plan_id="metered",
            meter="api_calls",
            event_id=f"e{n}",
            quantity=quantity,
            occurred_at=timezone.now(),
        )
    client.force_login(owner)
    # when
    with django_assert_max_num_queries(14):
        response = client.get(reverse("billing_customer:usage"))
    # then 1,200 calls: 1,000 at 0.02 and 200 at 0.01
    assert response.status_code == 200
    body = response.content.decode()
    assert "1200" in body
    assert "22.00 USD" in body
