"""The customer's checkout result pages: success verifies the session with Stripe (recorded answer) and
installs; cancel leaves nothing; both only for the buyer's organization. And the operators' admin."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.urls import reverse

from apps.billing import services
from apps.billing.admin import tax_report_rows
from apps.billing.models import BillingPlan, LedgerEntry, License, Purchase, PurchaseStatus
from apps.marketplace.models import Installation
from tests.billing.conftest import install_payload
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def _pending(organization: Any, owner: Any, extension: Any) -> Purchase:
    payload = install_payload(extension)
    purchase = services.create_purchase(
        organization=organization,
        actor=owner,
        version=extension.latest_version,
        plan=BillingPlan.objects.get(extension=extension, plan_id="pro"),
        config=payload["config"],
        granted_permissions=payload["granted_permissions"],
    )
    return services.attach_checkout_session(purchase=purchase, session_id="cs_test_Paid1")


def _paid_session(purchase: Purchase, payment_status: str = "paid") -> dict[str, Any]:
    return {
        "id": "cs_test_Paid1",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": payment_status,
        "metadata": {"purchase_id": str(purchase.pk)},
        "amount_subtotal": 4900,
        "amount_total": 4900,
        "currency": "usd",
        "total_details": {"amount_tax": 0, "amount_discount": 0},
        "payment_intent": "pi_Paid1",
        "created": int(time.time()),
    }


def test_the_success_page_verifies_the_payment_with_stripe_and_installs(
    client, organization, owner, paid_extension, stripe_recorder
):
    # given a checkout Stripe says is paid, before its webhook arrived
    purchase = _pending(organization, owner, paid_extension)
    stripe_recorder.answer("GET", "/v1/checkout/sessions/cs_test_Paid1", _paid_session(purchase))
    client.force_login(owner)
    # when the customer comes back
    response = client.get(reverse("billing_customer:checkout-success"), {"session_id": "cs_test_Paid1"})
    # then
    assert response.status_code == 200
    assert "is installed" in response.content.decode()
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.INSTALLED
    assert Installation.objects.filter(organization=organization, plan="pro").exists()


def test_the_success_page_does_not_install_an_unpaid_session(
    client, organization, owner, paid_extension, stripe_recorder
):
    # given a session that is not paid (someone typed the URL)
    purchase = _pending(organization, owner, paid_extension)
    stripe_recorder.answer("GET", "/v1/checkout/sessions/cs_test_Paid1", _paid_session(purchase, "unpaid"))
    client.force_login(owner)
    # when
    response = client.get(reverse("billing_customer:checkout-success"), {"session_id": "cs_test_Paid1"})
    # then
    assert response.status_code == 200
    assert "waiting for Stripe" in response.content.decode()
    assert not License.objects.exists()
    assert not Installation.objects.exists()


def test_another_organizations_checkout_is_not_found(
    client, organization, owner, paid_extension, stripe_recorder, other_organization, make_member
):
    # given a checkout of another organization
    _pending(organization, owner, paid_extension)
    client.force_login(make_member(other_organization, "owner"))
    # when / then
    assert client.get(reverse("billing_customer:checkout-success"), {"session_id": "cs_test_Paid1"}).status_code == 404
    assert stripe_recorder.requests == []


@pytest.mark.parametrize("query", [{}, {"session_id": ""}, {"session_id": "cs_unknown"}])
def test_a_success_page_without_a_known_session_is_not_found(client, owner, query):
    client.force_login(owner)
    assert client.get(reverse("billing_customer:checkout-success"), query).status_code == 404


def test_canceling_a_checkout_leaves_nothing(client, organization, owner, paid_extension):
    # given
    purchase = _pending(organization, owner, paid_extension)
    client.force_login(owner)
    # when
    response = client.get(reverse("billing_customer:checkout-cancel"), {"purchase": str(purchase.pk)})
    # then
    assert response.status_code == 200
    assert "Nothing was charged" in response.content.decode()
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CANCELED
    assert not Installation.objects.exists()


@pytest.mark.parametrize("value", ["not-a-uuid", "", "7a1c6e2e-1111-4111-8111-111111111111"])
def test_canceling_an_unknown_checkout_is_not_found(client, owner, value):
    client.force_login(owner)
    assert client.get(reverse("billing_customer:checkout-cancel"), {"purchase": value}).status_code == 404


def test_the_tax_report_sums_tax_per_month_and_jurisdiction(paid_extension):
    # given
    import datetime as dt
    from decimal import Decimal

    for n, (country, gross, tax) in enumerate([("US-CA", 4900, 392), ("US-CA", 1000, 80), ("DE", 2000, 380)]):
        services.record_ledger_entry(
            extension=paid_extension,
            organization=paid_extension.publisher.organization,
            kind="sale",
            plan_id="pro",
            currency="usd",
            gross=gross,
            tax=tax,
            tax_jurisdiction=country,
            fee_percent=Decimal(0),
            source_id=f"cs_{n}",
            occurred_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
        )
    # when
    rows = tax_report_rows(LedgerEntry.objects.all())
    # then
    assert rows == [
        ["2026-05", "DE", "usd", "20.00", "3.80", "1"],
        ["2026-05", "US-CA", "usd", "59.00", "4.72", "2"],
    ]


@pytest.mark.parametrize(
    "model",
    [
        "billingplan",
        "license",
        "purchase",
        "ledgerentry",
        "usagerecord",
        "statement",
        "publisheraccount",
        "stripeeventreceipt",
    ],
)
def test_operators_see_billing_in_the_admin(client, paid_extension, model, django_assert_max_num_queries):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    with django_assert_max_num_queries(20):
        response = client.get(reverse(f"admin:billing_{model}_changelist"))
    assert response.status_code == 200


def test_the_admin_tax_report_action_downloads_csv(client, paid_extension):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    import datetime as dt
    from decimal import Decimal

    entry = services.record_ledger_entry(
        extension=paid_extension,
        organization=paid_extension.publisher.organization,
        kind="sale",
        plan_id="pro",
        currency="usd",
        gross=1000,
        tax=80,
        tax_jurisdiction="US-NY",
        fee_percent=Decimal(0),
        source_id="cs_x",
        occurred_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
    )
    response = client.post(
        reverse("admin:billing_ledgerentry_changelist"), {"action": "tax_report", "_selected_action": [str(entry.pk)]}
    )
    assert response["Content-Type"] == "text/csv"
    assert "2026-05,US-NY,usd,10.00,0.80,1" in response.content.decode()


def test_without_stripe_keys_the_pages_say_paid_plans_are_unavailable(
    client, owner, paid_extension, make_member, settings
):
    # given a deployment without keys
    settings.STRIPE_TEST_SECRET_KEY = ""
    client.force_login(owner)
    publisher_owner = make_member(paid_extension.publisher.organization, "owner")
    # when / then
    assert "billing is not set up" in client.get(reverse("billing_customer:usage")).content.decode()
    client.force_login(publisher_owner)
    payouts = client.get(reverse("billing:payouts")).content.decode()
    assert "Payouts are unavailable on this deployment" in payouts
    assert "Set up payouts with Stripe" not in payouts
