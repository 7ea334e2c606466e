"""Customers change or cancel subscriptions (recorded Stripe answers); Stripe's events then move the license.
Also: refunds and Connect updates arriving by webhook, per-seat quantities, and the guarded Stripe client."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from django.test import RequestFactory
from django.urls import reverse

from apps.billing import services
from apps.billing.checkout import begin_paid_install
from apps.billing.models import BillingPlan, LedgerEntry, License, LicenseStatus, PublisherAccount, Purchase
from apps.billing.stripe_api import GuardedStripeHTTPClient, stripe_client
from tests.billing.conftest import install_payload, sign_event, stripe_event
from tests.factories.billing import LicenseFactory

pytestmark = pytest.mark.django_db
SUBSCRIPTION = {
    "id": "sub_Live1",
    "object": "subscription",
    "status": "active",
    "items": {
        "object": "list",
        "data": [{"id": "si_Item1", "object": "subscription_item", "quantity": 3, "price": {"id": "price_team"}}],
    },
}


@pytest.fixture
def subscribed(organization: Any, paid_extension: Any) -> License:
    return LicenseFactory(
        organization=organization,
        extension=paid_extension,
        plan_id="team",
        stripe_subscription_id="sub_Live1",
        quantity=3,
    )


def test_a_customer_switches_plans_with_proration(client, owner, subscribed, stripe_recorder):
    # given Stripe's view of the subscription
    stripe_recorder.answer("GET", "/v1/subscriptions/sub_Live1", SUBSCRIPTION)
    stripe_recorder.answer("POST", "/v1/subscriptions/sub_Live1", SUBSCRIPTION)
    client.force_login(owner)
    # when
    response = client.post(reverse("billing_customer:license-change-plan", args=[subscribed.pk]), {"plan": "metered"})
    # then the item moves to the new price, prorated, without a quantity (metered)
    assert response.status_code == 302
    (change,) = stripe_recorder.made("POST", "/v1/subscriptions/sub_Live1")
    assert change.params["items[0][id]"] == "si_Item1"
    assert change.params["items[0][price]"] == "price_metered"
    assert change.params["proration_behavior"] == "create_prorations"
    assert "items[0][quantity]" not in change.params
    # and the license waits for Stripe's confirmation
    subscribed.refresh_from_db()
    assert subscribed.plan_id == "team"


@pytest.mark.parametrize("plan", ["pro", "free", "nope"])
def test_a_switch_to_a_plan_that_is_not_recurring_is_refused(client, owner, subscribed, stripe_recorder, plan):
    client.force_login(owner)
    client.post(reverse("billing_customer:license-change-plan", args=[subscribed.pk]), {"plan": plan})
    assert stripe_recorder.made("POST", "/v1/subscriptions") == []


def test_a_customer_cancels_at_the_end_of_the_period(client, owner, subscribed, stripe_recorder):
    # given
    stripe_recorder.answer("POST", "/v1/subscriptions/sub_Live1", {**SUBSCRIPTION, "cancel_at_period_end": True})
    client.force_login(owner)
    # when
    client.post(reverse("billing_customer:license-cancel", args=[subscribed.pk]))
    # then
    (cancel,) = stripe_recorder.made("POST", "/v1/subscriptions/sub_Live1")
    assert cancel.params == {"cancel_at_period_end": "true"}
    subscribed.refresh_from_db()
    assert subscribed.status == LicenseStatus.ACTIVE


def test_another_organizations_license_cannot_be_canceled(
    client, subscribed, stripe_recorder, other_organization, make_member
):
    client.force_login(make_member(other_organization, "owner"))
    assert client.post(reverse("billing_customer:license-cancel", args=[subscribed.pk])).status_code == 404
    assert stripe_recorder.requests == []


def test_a_viewer_cannot_cancel(client, organization, subscribed, make_member, stripe_recorder):
    client.force_login(make_member(organization, "viewer"))
    assert client.post(reverse("billing_customer:license-cancel", args=[subscribed.pk])).status_code == 403


def test_a_refund_made_in_stripes_dashboard_arrives_by_webhook_once(client, organization, owner, paid_extension):
    # given a paid purchase
    payload = install_payload(paid_extension)
    purchase = services.create_purchase(
        organization=organization,
        actor=owner,
        version=paid_extension.latest_version,
        plan=BillingPlan.objects.get(extension=paid_extension, plan_id="pro"),
        **payload,
    )
    Purchase.objects.filter(pk=purchase.pk).update(
        status="paid", stripe_payment_intent_id="pi_Dash1", amount_subtotal=4900, amount_total=4900
    )
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_Dash1",
        "refunds": {
            "object": "list",
            "data": [{"id": "re_Dash1", "object": "refund", "amount": 1000, "created": int(time.time())}],
        },
    }
    # when charge.refunded arrives twice under different event ids
    for event_id in ("evt_r1", "evt_r2"):
        body, signature = sign_event(stripe_event("charge.refunded", charge, event_id=event_id))
        client.post("/billing/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    # then one partial refund line; the license (none here) is untouched by a partial refund
    (line,) = LedgerEntry.objects.filter(kind="refund")
    assert (line.gross, line.source_id) == (-1000, "re_Dash1")


def test_connect_account_updates_arrive_by_webhook(client, paid_extension):
    # given
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(payouts_enabled=False)
    account = {
        "id": "acct_Publisher1",
        "object": "account",
        "details_submitted": True,
        "charges_enabled": True,
        "payouts_enabled": True,
    }
    body, signature = sign_event(stripe_event("account.updated", account))
    # when
    client.post("/billing/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    # then
    assert PublisherAccount.objects.get(publisher=paid_extension.publisher).payouts_enabled


def test_a_per_seat_plan_is_bought_for_every_member(organization, owner, make_member, paid_extension, stripe_recorder):
    # given three members
    make_member(organization, "viewer")
    make_member(organization, "developer")
    # when
    begin_paid_install(
        request=RequestFactory().get("/"),
        organization=organization,
        actor=owner,
        version=paid_extension.latest_version,
        plan_id="team",
        **install_payload(paid_extension),
    )
    # then
    (session,) = stripe_recorder.made("POST", "/v1/checkout/sessions")
    assert session.params["line_items[0][quantity]"] == "3"


def test_the_guarded_client_refuses_stripe_on_an_address_it_may_not_reach(settings, monkeypatch):
    # given no permission to reach private or loopback addresses
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.STRIPE_API_HOST = "http://127.0.0.1:9"
    monkeypatch.setattr(stripe, "default_http_client", GuardedStripeHTTPClient())
    # when / then the request never leaves
    with pytest.raises(stripe.APIConnectionError):
        stripe_client().Customer.create(name="x")


def test_a_refunded_renewal_reverses_the_publishers_share_and_keeps_the_subscription(
    client, organization, owner, paid_extension, stripe_recorder
):
    # given a subscription bought through checkout at a 15 % fee
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(fee_percent=15)
    payload = install_payload(paid_extension)
    purchase = services.create_purchase(
        organization=organization,
        actor=owner,
        version=paid_extension.latest_version,
        plan=BillingPlan.objects.get(extension=paid_extension, plan_id="team"),
        **payload,
    )
    Purchase.objects.filter(pk=purchase.pk).update(
        status="installed", stripe_session_id="cs_sub", stripe_subscription_id="sub_Live1"
    )
    license_ = LicenseFactory(
        organization=organization, extension=paid_extension, plan_id="team", stripe_subscription_id="sub_Live1"
    )
    # and Stripe knows the renewal's charge paid invoice in_Renew1 of that subscription
    stripe_recorder.answer(
        "GET",
        "/v1/invoice_payments",
        {"object": "list", "data": [{"id": "inpay_1", "object": "invoice_payment", "invoice": "in_Renew1"}]},
    )
    stripe_recorder.answer(
        "GET",
        "/v1/invoices/in_Renew1",
        {"id": "in_Renew1", "object": "invoice", "parent": {"subscription_details": {"subscription": "sub_Live1"}}},
    )
    charge = {
        "id": "ch_renew",
        "object": "charge",
        "payment_intent": "pi_Renew1",
        "refunds": {"object": "list", "data": [{"id": "re_Renew1", "object": "refund", "amount": 4500}]},
    }
    body, signature = sign_event(stripe_event("charge.refunded", charge))
    # when
    client.post("/billing/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    # then the publisher's share of it is reversed
    (line,) = LedgerEntry.objects.filter(kind="refund")
    assert (line.gross, line.fee, line.net) == (-4500, -675, -3825)
    (lookup,) = stripe_recorder.made("GET", "/v1/invoice_payments")
    assert lookup.params == {"payment[type]": "payment_intent", "payment[payment_intent]": "pi_Renew1", "limit": "1"}
    # and the subscription's license is not ended by a refund
    license_.refresh_from_db()
    assert license_.status == LicenseStatus.ACTIVE


def test_a_refund_of_a_charge_that_is_not_ours_is_ignored(client, stripe_recorder):
    stripe_recorder.answer("GET", "/v1/invoice_payments", {"object": "list", "data": []})
    charge = {
        "id": "ch_x",
        "object": "charge",
        "payment_intent": "pi_x",
        "refunds": {"data": [{"id": "re_x", "amount": 1}]},
    }
    body, signature = sign_event(stripe_event("charge.refunded", charge))
    response = client.post(
        "/billing/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.content == b"not ours"
    assert not LedgerEntry.objects.exists()
