"""Billing's side of the install flow's checkout seam (`MARKETPLACE_CHECKOUT`): a Stripe Checkout Session
for a paid plan. The installation is made once the payment succeeds (webhook or success page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import stripe
from django.urls import reverse

from apps.accounts.models import Membership
from apps.billing import services
from apps.billing.models import BillingPlan, License, PublisherAccount
from apps.billing.stripe_api import BillingNotConfigured, stripe_client
from apps.marketplace.checkout import CheckoutStart

if TYPE_CHECKING:
    from django.http import HttpRequest

    from apps.accounts.models import Organization, User
    from apps.marketplace.models import ExtensionVersion

UNAVAILABLE = "Paid plans are unavailable on this deployment: billing is not set up."


def begin_paid_install(
    *,
    request: HttpRequest,
    organization: Organization,
    actor: User,
    version: ExtensionVersion,
    plan_id: str,
    config: dict[str, Any],
    granted_permissions: dict[str, list[str]],
) -> CheckoutStart:
    """Store a pending purchase and open a Stripe Checkout Session (automatic tax on) for it; its URL is
    where the customer pays. Nothing is installed until the payment succeeds."""
    plan = BillingPlan.objects.filter(extension=version.extension, plan_id=plan_id).select_related("extension").first()
    if plan is None or not plan.is_paid:
        return CheckoutStart(None, f"The extension has no paid plan {plan_id!r}.")
    if not plan.stripe_price_id:
        return CheckoutStart(None, "This plan is not on sale yet; try again in a few minutes.")
    if License.objects.filter(
        organization=organization, extension=version.extension, plan_id=plan_id, status__in=("active", "trialing")
    ).exists():
        return CheckoutStart(None, "Your organization already has this plan.")
    account = PublisherAccount.objects.filter(publisher_id=version.extension.publisher_id).first()
    if account is None or not account.charges_enabled:
        return CheckoutStart(None, "The publisher cannot accept payments yet; paid plans are unavailable for now.")
    # A per-seat plan is bought for every current member; Stripe prorates later changes to the quantity.
    seats = Membership.objects.filter(organization=organization, is_active=True).count() if plan.per_seat else 1
    try:
        customer = services.ensure_billing_customer(organization=organization)
        purchase = services.create_purchase(
            organization=organization,
            actor=actor,
            version=version,
            plan=plan,
            config=config,
            granted_permissions=granted_permissions,
            quantity=max(seats, 1),
        )
        success = request.build_absolute_uri(reverse("billing_customer:checkout-success"))
        cancel = request.build_absolute_uri(reverse("billing_customer:checkout-cancel"))
        session = stripe_client().checkout.Session.create(
            **services.checkout_session_params(
                purchase=purchase,
                customer_id=customer.stripe_customer_id,
                success_url=f"{success}?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{cancel}?purchase={purchase.pk}",
            ),
            idempotency_key=f"checkout-{purchase.pk}",
        )
    except BillingNotConfigured:
        return CheckoutStart(None, UNAVAILABLE)
    except stripe.StripeError:
        return CheckoutStart(None, "Stripe could not start the checkout; please try again.")
    services.attach_checkout_session(purchase=purchase, session_id=str(session["id"]))
    return CheckoutStart(str(session["url"]))
