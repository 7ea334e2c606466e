"""Stripe's webhook: signatures verified, replays ignored, out-of-order events handled; checkout completion
licenses and installs; subscriptions lapse after the grace period and come back on payment."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.billing import services
from apps.billing.models import (
    BillingPlan,
    LedgerEntry,
    License,
    LicenseStatus,
    Purchase,
    PurchaseStatus,
    StripeEventReceipt,
)
from apps.billing.tasks import disable_lapsed_installations_task
from apps.marketplace.models import Installation, InstallationStatus
from tests.billing.conftest import install_payload, sign_event, stripe_event

pytestmark = pytest.mark.django_db
URL = "/billing/stripe/webhook/"


def _purchase(organization: Any, owner: Any, extension: Any, plan_id: str, session_id: str = "cs_test_1") -> Purchase:
    plan = BillingPlan.objects.get(extension=extension, plan_id=plan_id)
    payload = install_payload(extension)
    purchase = services.create_purchase(
        organization=organization,
        actor=owner,
        version=extension.latest_version,
        plan=plan,
        config=payload["config"],
        granted_permissions=payload["granted_permissions"],
    )
    return services.attach_checkout_session(purchase=purchase, session_id=session_id)


def _session(purchase: Purchase, **fields: Any) -> dict[str, Any]:
    data = {
        "id": purchase.stripe_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "status": "complete",
        "client_reference_id": str(purchase.pk),
        "metadata": {"purchase_id": str(purchase.pk)},
        "amount_subtotal": 4900,
        "amount_total": 5292,
        "currency": "usd",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 392},
        "customer_details": {"address": {"country": "US", "state": "CA"}},
        "payment_intent": "pi_1",
        "subscription": None,
        "created": int(time.time()),
    }
    data.update(fields)
    return data


def _post(client: Any, event: dict[str, Any], **sign: Any) -> Any:
    body, signature = sign_event(event, **sign)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def test_the_webhook_url_is_the_named_one():
    assert reverse("billing_customer:stripe-webhook") == URL


def test_a_paid_checkout_licenses_books_and_installs(client, organization, owner, paid_extension):
    # given a pending purchase of the one-time plan
    purchase = _purchase(organization, owner, paid_extension, "pro")
    # when Stripe says its checkout completed
    response = _post(client, stripe_event("checkout.session.completed", _session(purchase)))
    # then
    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.INSTALLED
    assert (purchase.amount_subtotal, purchase.amount_tax, purchase.amount_total) == (4900, 392, 5292)
    license_ = License.objects.get(organization=organization, extension=paid_extension)
    assert (license_.plan_id, license_.status) == ("pro", LicenseStatus.ACTIVE)
    installation = Installation.objects.get(organization=organization, extension=paid_extension)
    assert (installation.plan, installation.status) == ("pro", InstallationStatus.ACTIVE)
    assert installation.config == {"region": "eu"}
    (line,) = LedgerEntry.objects.all()
    assert (line.kind, line.gross, line.fee, line.net, line.tax) == ("sale", 4900, 0, 4900, 392)
    assert line.tax_jurisdiction == "US-CA"
    # a destination charge: Stripe already moved the publisher's share
    assert line.routed == 4900


def test_a_replayed_event_is_acknowledged_and_ignored(client, organization, owner, paid_extension):
    # given an event already processed
    purchase = _purchase(organization, owner, paid_extension, "pro")
    event = stripe_event("checkout.session.completed", _session(purchase), event_id="evt_replayed")
    assert _post(client, event).status_code == 200
    # when the same event arrives again (a retry or a replay)
    response = _post(client, event)
    # then nothing is booked twice
    assert response.status_code == 200
    assert response.content == b"duplicate"
    assert LedgerEntry.objects.count() == 1
    assert StripeEventReceipt.objects.count() == 1


def test_the_same_checkout_under_a_new_event_id_is_still_fulfilled_once(client, organization, owner, paid_extension):
    # given
    purchase = _purchase(organization, owner, paid_extension, "pro")
    _post(client, stripe_event("checkout.session.completed", _session(purchase), event_id="evt_a"))
    # when Stripe sends the async-success event for the same session
    _post(client, stripe_event("checkout.session.async_payment_succeeded", _session(purchase), event_id="evt_b"))
    # then
    assert LedgerEntry.objects.count() == 1
    assert Installation.objects.count() == 1


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "whsec_forged"},
        {"timestamp": int(time.time()) - 3600},
    ],
    ids=["forged-secret", "stale-timestamp"],
)
def test_a_forged_or_stale_delivery_is_refused(client, organization, owner, paid_extension, signing):
    # given a delivery that is not Stripe's or is an old one replayed
    purchase = _purchase(organization, owner, paid_extension, "pro")
    # when
    response = _post(client, stripe_event("checkout.session.completed", _session(purchase)), **signing)
    # then
    assert response.status_code == 400
    assert not License.objects.exists()
    assert not StripeEventReceipt.objects.exists()


def test_a_delivery_without_a_signature_or_with_a_tampered_body_is_refused(client, organization, owner, paid_extension):
    # given
    purchase = _purchase(organization, owner, paid_extension, "pro")
    body, signature = sign_event(stripe_event("checkout.session.completed", _session(purchase)))
    # when
    unsigned = client.post(URL, body, content_type="application/json")
    tampered = client.post(
        URL, body.replace(b"4900", b"1"), content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    garbage = client.post(URL, b"not json", content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    # then
    assert [unsigned.status_code, tampered.status_code, garbage.status_code] == [400, 400, 400]
    assert not License.objects.exists()


def test_the_webhook_takes_only_post(client):
    assert client.get(URL).status_code == 405


def test_an_unpaid_session_licenses_nothing(client, organization, owner, paid_extension):
    # given a checkout whose payment is still processing (a bank debit)
    purchase = _purchase(organization, owner, paid_extension, "pro")
    # when
    _post(client, stripe_event("checkout.session.completed", _session(purchase, payment_status="unpaid")))
    # then
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING
    assert not License.objects.exists()
    assert not Installation.objects.exists()


def test_an_expired_checkout_cancels_the_purchase(client, organization, owner, paid_extension):
    # given
    purchase = _purchase(organization, owner, paid_extension, "pro")
    # when
    _post(client, stripe_event("checkout.session.expired", _session(purchase, payment_status="unpaid")))
    # then
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CANCELED
    assert not License.objects.exists()


def _subscribe(client: Any, organization: Any, owner: Any, extension: Any, plan_id: str = "team") -> License:
    purchase = _purchase(organization, owner, extension, plan_id, session_id="cs_sub")
    session = _session(purchase, mode="subscription", subscription="sub_1", payment_intent=None, amount_subtotal=0)
    _post(client, stripe_event("checkout.session.completed", session, event_id="evt_sub_done"))
    return License.objects.get(stripe_subscription_id="sub_1")


def _subscription(status: str, price: str = "price_team", quantity: int = 3) -> dict[str, Any]:
    return {
        "id": "sub_1",
        "object": "subscription",
        "status": status,
        "items": {
            "data": [{"price": {"id": price}, "quantity": quantity, "current_period_end": int(time.time()) + 86400}]
        },
    }


def test_a_subscription_with_a_trial_starts_trialing_and_is_booked_from_its_invoices(
    client, organization, owner, paid_extension
):
    # given a subscription bought with its 14-day trial
    license_ = _subscribe(client, organization, owner, paid_extension)
    assert license_.status == LicenseStatus.TRIALING
    assert LedgerEntry.objects.count() == 0
    # when the trial's $0 invoice and then the first real one are paid
    base = {"object": "invoice", "currency": "usd", "parent": {"subscription_details": {"subscription": "sub_1"}}}
    _post(
        client,
        stripe_event(
            "invoice.paid",
            {**base, "id": "in_0", "amount_paid": 0, "billing_reason": "subscription_create"},
            event_id="e1",
        ),
    )
    _post(
        client,
        stripe_event(
            "invoice.paid",
            {
                **base,
                "id": "in_1",
                "amount_paid": 4860,
                "total_taxes": [{"amount": 360}],
                "billing_reason": "subscription_cycle",
            },
            event_id="e2",
        ),
    )
    # then the $0 line and the sale are on the ledger, tax apart
    lines = {(e.kind, e.gross, e.tax) for e in LedgerEntry.objects.all()}
    assert lines == {("free", 0, 0), ("sale", 4500, 360)}
    license_.refresh_from_db()
    assert license_.status == LicenseStatus.ACTIVE


def test_an_older_event_arriving_late_does_not_undo_a_newer_state(client, organization, owner, paid_extension):
    # given a subscription canceled by the newest event
    license_ = _subscribe(client, organization, owner, paid_extension)
    now = int(time.time())
    _post(
        client,
        stripe_event("customer.subscription.deleted", _subscription("canceled"), event_id="e_new", created=now + 10),
    )
    # when an older "active" update arrives after it
    _post(
        client,
        stripe_event("customer.subscription.updated", _subscription("active"), event_id="e_old", created=now + 5),
    )
    # then the license stays canceled and the installation disabled
    license_.refresh_from_db()
    assert license_.status == LicenseStatus.CANCELED
    installation = Installation.objects.get(organization=organization, extension=paid_extension)
    assert installation.status == InstallationStatus.DISABLED


def test_an_upgrade_moves_the_license_and_the_installation_to_the_new_plan(client, organization, owner, paid_extension):
    # given a subscription on "team"
    license_ = _subscribe(client, organization, owner, paid_extension)
    # when the customer switches the subscription to the metered plan's price
    _post(
        client,
        stripe_event(
            "customer.subscription.updated",
            _subscription("active", price="price_metered"),
            created=int(time.time()) + 5,
        ),
    )
    # then
    license_.refresh_from_db()
    assert (license_.plan_id, license_.status) == ("metered", LicenseStatus.ACTIVE)
    assert Installation.objects.get(organization=organization).plan == "metered"


def test_a_failed_renewal_lapses_after_the_grace_period_and_payment_re_enables(
    client, organization, owner, paid_extension, settings
):
    # given an active subscription whose renewal fails
    settings.BILLING_GRACE_PERIOD = dt.timedelta(days=7)
    license_ = _subscribe(client, organization, owner, paid_extension)
    invoice = {"object": "invoice", "id": "in_2", "currency": "usd", "subscription": "sub_1", "amount_paid": 0}
    _post(client, stripe_event("invoice.payment_failed", invoice, event_id="e_fail", created=int(time.time()) + 1))
    license_.refresh_from_db()
    assert license_.status == LicenseStatus.PAST_DUE
    installation = Installation.objects.get(organization=organization)
    # when the grace period has not passed, the beat task leaves it; once it has, the installation is disabled
    assert disable_lapsed_installations_task() == 0
    License.objects.filter(pk=license_.pk).update(past_due_since=timezone.now() - dt.timedelta(days=8))
    assert disable_lapsed_installations_task() == 1
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.DISABLED
    # then paying the invoice brings it back
    paid = {**invoice, "amount_paid": 1500, "billing_reason": "subscription_cycle"}
    _post(client, stripe_event("invoice.paid", paid, event_id="e_paid", created=int(time.time()) + 2))
    installation.refresh_from_db()
    license_.refresh_from_db()
    assert license_.status == LicenseStatus.ACTIVE
    assert installation.status == InstallationStatus.ACTIVE


def test_an_unknown_event_type_is_acknowledged(client):
    response = _post(client, stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    assert response.content == b"ignored"


def test_buying_a_plan_while_installed_on_the_free_plan_moves_the_installation(
    client, organization, owner, paid_extension
):
    # given an installation on the free plan
    from tests.factories.marketplace import make_installation

    installation = make_installation(organization=organization, extension=paid_extension, plan="free")
    purchase = _purchase(organization, owner, paid_extension, "pro")
    # when the paid plan is bought
    _post(client, stripe_event("checkout.session.completed", _session(purchase)))
    # then the same installation is now on it
    installation.refresh_from_db()
    assert installation.plan == "pro"
    assert Installation.objects.filter(organization=organization).count() == 1


def test_events_processed_by_dj_stripe_reach_billing_once(organization, owner, paid_extension, client):
    # given billing listens to dj-stripe's webhook signals
    from djstripe.models import Event as DjStripeEvent
    from djstripe.signals import WEBHOOK_SIGNALS

    from apps.billing.djstripe_events import BILLING_EVENT_TYPES, apply_djstripe_event

    assert all(
        apply_djstripe_event in [receiver[1]() for receiver in WEBHOOK_SIGNALS[t].receivers]
        for t in BILLING_EVENT_TYPES
    )
    purchase = _purchase(organization, owner, paid_extension, "pro")
    session = _session(purchase)
    event = DjStripeEvent(
        id="evt_via_djstripe", type="checkout.session.completed", data={"object": session}, created=timezone.now()
    )
    # when dj-stripe hands the event over, and our own endpoint later gets the same event
    assert apply_djstripe_event(sender=DjStripeEvent, event=event) == "purchase installed"
    response = _post(client, stripe_event("checkout.session.completed", session, event_id="evt_via_djstripe"))
    # then it was applied once
    assert response.content == b"duplicate"
    assert LedgerEntry.objects.count() == 1
    assert Installation.objects.filter(organization=organization).count() == 1


def test_a_promotion_code_becomes_a_discount_line(client, organization, owner, paid_extension):
    # given a checkout paid with 9.80 off
    purchase = _purchase(organization, owner, paid_extension, "pro")
    totals = {"amount_discount": 980, "amount_shipping": 0, "amount_tax": 0}
    session = _session(purchase, amount_total=3920, total_details=totals)
    # when
    _post(client, stripe_event("checkout.session.completed", session))
    # then the sale and its discount are separate lines that net to what was paid
    lines = {e.kind: e.gross for e in LedgerEntry.objects.all()}
    assert lines == {"sale": 4900, "discount": -980}
    assert sum(lines.values()) == 3920


def test_forged_deliveries_in_bulk_raise_a_security_event(client, organization, owner, paid_extension, settings):
    from apps.security.models import SecurityEvent

    # given a sender without Stripe's signing secret
    settings.SECURITY_DETECTOR_THRESHOLDS = {"webhook_failures": 3}
    purchase = _purchase(organization, owner, paid_extension, "pro")
    event = stripe_event("checkout.session.completed", _session(purchase))
    # when it delivers three times
    codes = [_post(client, event, secret="whsec_forged").status_code for _ in range(3)]
    # then
    assert codes == [400] * 3
    alarm = SecurityEvent.objects.get(event_type="webhook_signature_failures")
    assert alarm.resource_id == "stripe"
