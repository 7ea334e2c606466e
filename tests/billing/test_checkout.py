"""The checkout seam: a Stripe Checkout Session (recorded Stripe answers) for a paid plan, nothing installed
until it is paid, and a clear refusal when paid plans cannot be sold."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from apps.billing.checkout import begin_paid_install
from apps.billing.models import License, PublisherAccount, Purchase, PurchaseStatus
from apps.marketplace.checkout import CheckoutStart
from apps.marketplace.models import Installation
from tests.billing.conftest import install_payload
from tests.factories.billing import LicenseFactory

pytestmark = pytest.mark.django_db


def _begin(organization: Any, actor: Any, extension: Any, plan_id: str) -> CheckoutStart:
    return begin_paid_install(
        request=RequestFactory().get("/marketplace/"),
        organization=organization,
        actor=actor,
        version=extension.latest_version,
        plan_id=plan_id,
        **install_payload(extension),
    )


def test_a_one_time_plan_opens_a_checkout_session_with_tax_and_the_publishers_destination(
    organization, owner, paid_extension, stripe_recorder
):
    # given a paid one-time plan of a publisher that can take charges
    # when the install flow asks where to pay
    start = _begin(organization, owner, paid_extension, "pro")
    # then the customer goes to Stripe's page
    assert start.redirect_url == "https://checkout.stripe.com/c/pay/cs_test_Recorded1"
    (session,) = stripe_recorder.made("POST", "/v1/checkout/sessions")
    purchase = Purchase.objects.get()
    assert session.params["mode"] == "payment"
    assert session.params["automatic_tax[enabled]"] == "true"
    assert session.params["allow_promotion_codes"] == "true"
    assert session.params["line_items[0][price]"] == "price_1"
    assert session.params["line_items[0][quantity]"] == "1"
    assert session.params["payment_intent_data[transfer_data][destination]"] == "acct_Publisher1"
    # a new publisher pays no platform fee on its first US$1M
    assert "payment_intent_data[application_fee_amount]" not in session.params
    assert session.params["metadata[purchase_id]"] == str(purchase.pk)
    assert (
        session.params["success_url"] == "http://testserver/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert session.params["cancel_url"] == f"http://testserver/billing/checkout/cancel/?purchase={purchase.pk}"
    # and the purchase waits, with the configuration it will install with; nothing is licensed or installed
    assert purchase.status == PurchaseStatus.PENDING
    assert purchase.stripe_session_id == "cs_test_Recorded1"
    assert purchase.config == {"region": "eu"}
    assert not License.objects.exists()
    assert not Installation.objects.exists()


def test_a_publisher_past_its_free_tier_has_the_platform_fee_carried_on_the_charge(
    organization, owner, paid_extension, stripe_recorder
):
    # given an operator's 15 % fee for this publisher
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(fee_percent=15)
    # when
    _begin(organization, owner, paid_extension, "pro")
    # then 15 % of 49.00 is 7.35
    (session,) = stripe_recorder.made("POST", "/v1/checkout/sessions")
    assert session.params["payment_intent_data[application_fee_amount]"] == "735"


def test_a_subscription_plan_subscribes_with_the_trial_and_the_fee_percent(
    organization, owner, paid_extension, stripe_recorder
):
    # given
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(fee_percent=15)
    # when
    _begin(organization, owner, paid_extension, "team")
    # then
    (session,) = stripe_recorder.made("POST", "/v1/checkout/sessions")
    assert session.params["mode"] == "subscription"
    assert session.params["subscription_data[trial_period_days]"] == "14"
    assert session.params["subscription_data[application_fee_percent]"] == "15.00"
    assert session.params["subscription_data[transfer_data][destination]"] == "acct_Publisher1"
    assert session.params["line_items[0][price]"] == "price_team"


def test_a_usage_plan_is_subscribed_without_a_quantity(organization, owner, paid_extension, stripe_recorder):
    # when
    _begin(organization, owner, paid_extension, "metered")
    # then metered prices take no quantity at checkout
    (session,) = stripe_recorder.made("POST", "/v1/checkout/sessions")
    assert session.params["line_items[0][price]"] == "price_metered"
    assert "line_items[0][quantity]" not in session.params


def test_without_stripe_keys_paid_plans_are_unavailable_with_a_reason(
    organization, owner, paid_extension, stripe_recorder, settings
):
    # given a deployment without keys
    settings.STRIPE_TEST_SECRET_KEY = ""
    # when
    start = _begin(organization, owner, paid_extension, "pro")
    # then
    assert start.redirect_url is None
    assert "billing is not set up" in start.message
    assert stripe_recorder.requests == []


def test_a_publisher_that_cannot_take_charges_sells_nothing(organization, owner, paid_extension, stripe_recorder):
    # given
    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(charges_enabled=False)
    # when
    start = _begin(organization, owner, paid_extension, "pro")
    # then
    assert start.redirect_url is None
    assert "cannot accept payments" in start.message
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("plan_id", ["free", "nope"])
def test_a_free_or_unknown_plan_is_not_sold(organization, owner, paid_extension, stripe_recorder, plan_id):
    # when
    start = _begin(organization, owner, paid_extension, plan_id)
    # then
    assert start.redirect_url is None
    assert plan_id in start.message
    assert stripe_recorder.requests == []


def test_an_already_licensed_plan_is_not_sold_twice(organization, owner, paid_extension, stripe_recorder):
    # given
    LicenseFactory(organization=organization, extension=paid_extension, plan_id="pro")
    # when
    start = _begin(organization, owner, paid_extension, "pro")
    # then
    assert start.redirect_url is None
    assert "already" in start.message


def test_a_stripe_error_tells_the_customer_to_try_again(organization, owner, paid_extension, stripe_recorder):
    # given Stripe refuses the session (no recorded answer: a 404 invalid_request_error)
    stripe_recorder.routes = [r for r in stripe_recorder.routes if r[1].pattern != "^/v1/checkout/sessions$"]
    # when
    start = _begin(organization, owner, paid_extension, "pro")
    # then
    assert start.redirect_url is None
    assert "try again" in start.message
