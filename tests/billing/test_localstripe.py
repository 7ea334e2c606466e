"""The money path against localstripe with the real stripe-python client: a card charged for a purchase,
localstripe's signed webhook delivered to our endpoint, the license and the install; a declined card; a
refund that reverses the publisher's share."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from apps.billing import services
from apps.billing.models import BillingPlan, LedgerEntry, License, LicenseStatus, Purchase, PurchaseStatus
from apps.marketplace.models import Installation, InstallationStatus
from tests.billing.conftest import WebhookCollector, install_payload

pytestmark = pytest.mark.django_db
URL = "/billing/stripe/webhook/"


def _purchase(organization: Any, owner: Any, extension: Any) -> Purchase:
    payload = install_payload(extension)
    return services.create_purchase(
        organization=organization,
        actor=owner,
        version=extension.latest_version,
        plan=BillingPlan.objects.get(extension=extension, plan_id="pro"),
        config=payload["config"],
        granted_permissions=payload["granted_permissions"],
    )


def _card(number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return str(stripe.PaymentMethod.create(type="card", card=card)["id"])


def _deliver(client: Any, collector: WebhookCollector, event_type: str) -> Any:
    body, signature = collector.wait_for(event_type)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def test_a_paid_card_licenses_and_installs_through_localstripes_signed_webhook(
    client, organization, owner, paid_extension, webhook_collector
):
    # given a pending purchase and a good card
    purchase = _purchase(organization, owner, paid_extension)
    services.ensure_billing_customer(organization=organization)
    card = _card("4242424242424242")
    # when it is charged and localstripe's payment_intent.succeeded arrives
    intent = services.charge_purchase(purchase=purchase, payment_method_id=card)
    response = _deliver(client, webhook_collector, "payment_intent.succeeded")
    # then
    assert intent["status"] == "succeeded"
    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.INSTALLED
    assert purchase.stripe_payment_intent_id == intent["id"]
    assert License.objects.get(organization=organization, plan_id="pro").status == LicenseStatus.ACTIVE
    assert Installation.objects.get(organization=organization).status == InstallationStatus.ACTIVE
    (line,) = LedgerEntry.objects.all()
    assert (line.kind, line.gross, line.net, line.routed) == ("sale", 4900, 4900, 0)


def test_a_declined_card_leaves_no_entitlement(client, organization, owner, paid_extension, webhook_collector):
    # given a card that is declined when charged
    purchase = _purchase(organization, owner, paid_extension)
    services.ensure_billing_customer(organization=organization)
    card = _card("4000000000000341")
    # when the charge is tried
    with pytest.raises(stripe.CardError):
        services.charge_purchase(purchase=purchase, payment_method_id=card)
    response = _deliver(client, webhook_collector, "payment_intent.payment_failed")
    # then nothing is licensed, booked or installed, and the purchase says why
    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FAILED
    assert "declined" in purchase.status_reason.lower()
    assert not License.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert not Installation.objects.exists()


def test_a_refund_reverses_the_publishers_share_and_ends_the_license(
    client, organization, owner, paid_extension, webhook_collector
):
    # given a paid and installed purchase sold at a 15 % fee
    from apps.billing.models import PublisherAccount

    PublisherAccount.objects.filter(publisher=paid_extension.publisher).update(fee_percent=15)
    purchase = _purchase(organization, owner, paid_extension)
    services.ensure_billing_customer(organization=organization)
    services.charge_purchase(purchase=purchase, payment_method_id=_card("4242424242424242"))
    _deliver(client, webhook_collector, "payment_intent.succeeded")
    purchase.refresh_from_db()
    # when an operator refunds it in full
    refund_line = services.refund_purchase(purchase=purchase, actor=None)
    # then the refund line is the sale's mirror image, so the publisher's share nets to zero
    sale = LedgerEntry.objects.get(kind="sale")
    assert (sale.gross, sale.fee, sale.net) == (4900, 735, 4165)
    assert (refund_line.kind, refund_line.gross, refund_line.fee, refund_line.net) == ("refund", -4900, -735, -4165)
    assert refund_line.source_id.startswith("re_")
    assert License.objects.get(organization=organization).status == LicenseStatus.REFUNDED
    assert Installation.objects.get(organization=organization).status == InstallationStatus.DISABLED
    # and the same refund arriving again (charge.refunded) books nothing new
    services.apply_refund(refund={"id": refund_line.source_id, "amount": 4900}, purchase=purchase, actor=None)
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


def test_an_unpaid_purchase_cannot_be_refunded(organization, owner, paid_extension, localstripe):
    from apps.core.exceptions import Conflict

    purchase = _purchase(organization, owner, paid_extension)
    with pytest.raises(Conflict):
        services.refund_purchase(purchase=purchase, actor=None)
