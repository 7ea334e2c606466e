"""Billing writes: plans to Stripe, checkout fulfilment, licenses from Stripe events, usage, refunds,
publisher onboarding, statements and payouts. Amounts are integer cents; fees round half up per line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.billing.models import (
    BillingCustomer,
    BillingPlan,
    LedgerEntry,
    LedgerKind,
    License,
    LicenseStatus,
    PublisherAccount,
    Purchase,
    PurchaseStatus,
    Statement,
    StatementStatus,
    StripeEventReceipt,
    UsageRecord,
)
from apps.billing.stripe_api import as_dict, stripe_client, stripe_configured
from apps.marketplace.models import Extension, ExtensionVersion, Installation, InstallationStatus, Publisher
from apps.security.services import record_audit_event

logger = logging.getLogger(__name__)

ONE_HUNDRED = Decimal(100)


# -- Plans ----------------------------------------------------------------------------------------------


def manifest_plans(version: ExtensionVersion) -> list[dict[str, Any]]:
    """The version's `pricing.plans` as written in the manifest (camelCase keys)."""
    return list(((version.manifest or {}).get("pricing") or {}).get("plans") or [])


def _price_fingerprint(plan: BillingPlan) -> str:
    facts = [plan.model, plan.currency, plan.amount, plan.interval, plan.per_seat, plan.meter, plan.unit_amount]
    return hashlib.sha256(json.dumps([*facts, plan.tiers], default=str).encode()).hexdigest()


def meter_event_name(plan: BillingPlan) -> str:
    """The Stripe Billing Meter event name of a usage plan: unique per extension and meter."""
    return f"{plan.extension.slug.replace('.', '_').replace('-', '_')}__{plan.meter}"[:100]


def _price_params(plan: BillingPlan, meter_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "product": plan.stripe_product_id,
        "currency": plan.currency,
        "metadata": {"extension": plan.extension.slug, "plan": plan.plan_id},
    }
    if plan.model == "one_time":
        params["unit_amount"] = plan.amount
    elif plan.model == "subscription":
        params["unit_amount"] = plan.amount
        params["recurring"] = {"interval": plan.interval, "usage_type": "licensed"}
    else:
        params["recurring"] = {"interval": plan.interval or "month", "usage_type": "metered", "meter": meter_id}
        if plan.tiers:
            params["billing_scheme"] = "tiered"
            params["tiers_mode"] = "graduated"
            params["tiers"] = [
                {"up_to": tier.get("upTo") or "inf", "unit_amount": tier["unitAmount"]} for tier in plan.tiers
            ]
        else:
            params["unit_amount"] = plan.unit_amount
    return params


def _push_plan_to_stripe(plan: BillingPlan) -> None:
    stripe = stripe_client()
    name = f"{plan.extension.name}: {plan.name}"
    if plan.stripe_product_id:
        stripe.Product.modify(plan.stripe_product_id, name=name)
    else:
        product = stripe.Product.create(
            name=name,
            metadata={"extension": plan.extension.slug, "plan": plan.plan_id},
            idempotency_key=f"product-{plan.pk}",
        )
        plan.stripe_product_id = product["id"]
    fingerprint = _price_fingerprint(plan)
    if plan.stripe_price_id and plan.price_fingerprint == fingerprint:
        return
    meter_id = ""
    if plan.model == "usage":
        meter = stripe.billing.Meter.create(
            display_name=name,
            event_name=meter_event_name(plan),
            default_aggregation={"formula": "sum"},
            idempotency_key=f"meter-{plan.pk}-{fingerprint[:16]}",
        )
        meter_id = meter["id"]
    # Prices are immutable in Stripe: a changed plan gets a new Price and the old one stops selling.
    price = stripe.Price.create(**_price_params(plan, meter_id), idempotency_key=f"price-{plan.pk}-{fingerprint[:16]}")
    if plan.stripe_price_id:
        stripe.Price.modify(plan.stripe_price_id, active=False)
    plan.stripe_price_id = price["id"]
    plan.price_fingerprint = fingerprint


def sync_billing_plans(
    *, version: ExtensionVersion, actor: User | None = None, push_to_stripe: bool = True
) -> list[BillingPlan]:
    """Mirror the published version's pricing plans; paid plans get their Stripe Product and Price (unless
    `push_to_stripe` is off, for a Stripe fake without Prices)."""
    extension = version.extension
    plans: list[BillingPlan] = []
    for raw in manifest_plans(version):
        with transaction.atomic():
            plan, _ = BillingPlan.objects.select_for_update().get_or_create(
                extension=extension, plan_id=raw["id"], defaults={"name": raw["name"], "model": raw["model"]}
            )
            plan.name = raw["name"]
            plan.model = raw["model"]
            plan.currency = raw.get("currency") or ""
            plan.amount = raw.get("amount")
            plan.interval = raw.get("interval") or ""
            plan.trial_days = raw.get("trialDays")
            plan.per_seat = bool(raw.get("perSeat"))
            plan.meter = raw.get("meter") or ""
            plan.unit_amount = raw.get("unitAmount")
            plan.tiers = raw.get("tiers") or []
            if plan.is_paid and push_to_stripe and stripe_configured():
                _push_plan_to_stripe(plan)
            plan.save()
            record_audit_event(
                actor=actor,
                action="billing.plan_synced",
                target=plan,
                organization=extension.publisher.organization_id,
                data={"extension": extension.slug, "plan": plan.plan_id, "price": plan.stripe_price_id},
            )
        plans.append(plan)
    return plans


def schedule_billing_plan_sync(*, version: ExtensionVersion) -> None:
    """Called when a version is published: its plans reach Stripe after commit, outside the transaction."""
    from apps.billing.tasks import sync_billing_plans_task

    version_id = str(version.pk)
    transaction.on_commit(lambda: sync_billing_plans_task.delay(version_id))


# -- Fees -----------------------------------------------------------------------------------------------


def lifetime_gross(publisher: Publisher) -> int:
    return int(LedgerEntry.objects.filter(publisher=publisher).aggregate(total=Sum("gross"))["total"] or 0)


def platform_fee_percent(publisher: Publisher) -> Decimal:
    """The platform's share for the publisher's next sale: an operator's override, else the default tiers."""
    account = PublisherAccount.objects.filter(publisher=publisher).first()
    if account is not None and account.fee_percent is not None:
        return Decimal(account.fee_percent)
    if lifetime_gross(publisher) < settings.BILLING_FEE_FREE_THRESHOLD_CENTS:
        return Decimal(0)
    return Decimal(settings.BILLING_FEE_PERCENT)


def fee_of(amount: int, percent: Decimal) -> int:
    """The fee on `amount` cents at `percent`, rounded half up to the cent (sign follows the amount)."""
    value = (Decimal(abs(amount)) * percent / ONE_HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(value) if amount >= 0 else -int(value)


# -- Customers and checkout -----------------------------------------------------------------------------


def ensure_billing_customer(*, organization: Organization) -> BillingCustomer:
    """The organization's Stripe Customer, created on first purchase."""
    existing = BillingCustomer.objects.filter(organization=organization).first()
    if existing is not None:
        return existing
    customer = stripe_client().Customer.create(
        name=organization.name,
        metadata={"organization_id": str(organization.pk)},
        idempotency_key=f"customer-{organization.pk}",
    )
    with transaction.atomic():
        row, _ = BillingCustomer.objects.get_or_create(
            organization=organization, defaults={"stripe_customer_id": customer["id"]}
        )
        record_audit_event(actor=None, action="billing.customer_created", target=row, organization=organization)
    return row


def create_purchase(
    *,
    organization: Organization,
    actor: User,
    version: ExtensionVersion,
    plan: BillingPlan,
    config: dict[str, Any],
    granted_permissions: dict[str, list[str]],
    quantity: int = 1,
) -> Purchase:
    """Record what to install once paid (configuration kept encrypted) and the fee terms of the sale."""
    publisher = version.extension.publisher
    account = PublisherAccount.objects.filter(publisher=publisher).first()
    with transaction.atomic():
        purchase = Purchase.objects.create(
            organization=organization,
            actor=actor,
            extension=version.extension,
            version=version,
            plan=plan,
            quantity=quantity,
            config=config or None,
            granted_permissions=granted_permissions,
            destination_account_id=account.stripe_account_id if account else "",
            fee_percent=platform_fee_percent(publisher),
            currency=plan.currency,
        )
        record_audit_event(
            actor=actor,
            action="billing.purchase_started",
            target=purchase,
            data={"extension": version.extension.slug, "plan": plan.plan_id},
        )
    return purchase


def checkout_session_params(
    *, purchase: Purchase, customer_id: str, success_url: str, cancel_url: str
) -> dict[str, Any]:
    """Stripe Checkout parameters: automatic tax, and a destination charge carrying the platform's fee."""
    plan = purchase.plan
    metadata = {"purchase_id": str(purchase.pk), "organization_id": str(purchase.organization_id)}
    line: dict[str, Any] = {"price": plan.stripe_price_id}
    if plan.model != "usage":
        line["quantity"] = purchase.quantity
    params: dict[str, Any] = {
        "mode": "payment" if plan.model == "one_time" else "subscription",
        "customer": customer_id,
        "customer_update": {"address": "auto", "name": "auto"},
        "line_items": [line],
        "automatic_tax": {"enabled": True},
        # Promotion codes become the statement's discount lines (Checkout reports amount_discount).
        "allow_promotion_codes": True,
        "client_reference_id": str(purchase.pk),
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    destination = {"destination": purchase.destination_account_id}
    if plan.model == "one_time":
        intent: dict[str, Any] = {"metadata": metadata, "transfer_data": destination}
        fee = fee_of((plan.amount or 0) * purchase.quantity, purchase.fee_percent)
        if fee:
            intent["application_fee_amount"] = fee
        params["payment_intent_data"] = intent
    else:
        subscription: dict[str, Any] = {"metadata": metadata, "transfer_data": destination}
        if purchase.fee_percent:
            subscription["application_fee_percent"] = str(purchase.fee_percent)
        if plan.trial_days:
            subscription["trial_period_days"] = plan.trial_days
        params["subscription_data"] = subscription
    return params


def attach_checkout_session(*, purchase: Purchase, session_id: str) -> Purchase:
    """Remember the Checkout Session that pays for the purchase."""
    with transaction.atomic():
        purchase.stripe_session_id = session_id
        purchase.save(update_fields=["stripe_session_id", "updated_at"])
        record_audit_event(
            actor=purchase.actor, action="billing.checkout_started", target=purchase, data={"session": session_id}
        )
    return purchase


def cancel_purchase(*, purchase: Purchase, actor: User | None, reason: str) -> Purchase:
    """A checkout abandoned, expired or declined: nothing is licensed or installed."""
    with transaction.atomic():
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        if purchase.status != PurchaseStatus.PENDING:
            return purchase
        purchase.status = PurchaseStatus.FAILED if "declin" in reason or "fail" in reason else PurchaseStatus.CANCELED
        purchase.status_reason = reason
        purchase.save(update_fields=["status", "status_reason", "updated_at"])
        record_audit_event(actor=actor, action="billing.purchase_canceled", target=purchase, data={"reason": reason})
    return purchase


def _stamp(epoch: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC) if epoch else timezone.now()


def _grant_license(
    *, purchase: Purchase, subscription_id: str, payment_intent_id: str, status: str, as_of: dt.datetime
) -> License:
    license_, created = License.objects.select_for_update().get_or_create(
        organization=purchase.organization,
        extension=purchase.extension,
        plan_id=purchase.plan.plan_id,
        defaults={
            "status": status,
            "quantity": purchase.quantity,
            "stripe_subscription_id": subscription_id,
            "stripe_payment_intent_id": payment_intent_id,
            "state_as_of": as_of,
        },
    )
    if not created:
        license_.status = status
        license_.quantity = purchase.quantity
        license_.stripe_subscription_id = subscription_id or license_.stripe_subscription_id
        license_.stripe_payment_intent_id = payment_intent_id or license_.stripe_payment_intent_id
        license_.past_due_since = None
        license_.state_as_of = max(as_of, license_.state_as_of or as_of)
        license_.save()
    record_audit_event(
        actor=None,
        action="billing.license_granted",
        target=license_,
        data={"extension": purchase.extension.slug, "plan": license_.plan_id, "status": status},
    )
    return license_


def record_ledger_entry(
    *,
    purchase: Purchase | None = None,
    extension: Extension,
    organization: Organization,
    kind: str,
    plan_id: str,
    currency: str,
    gross: int,
    fee_percent: Decimal,
    source_id: str,
    occurred_at: dt.datetime,
    tax: int = 0,
    discount: int = 0,
    tax_jurisdiction: str = "",
    routed: bool = False,
) -> LedgerEntry:
    """One line of the publisher's ledger, once per Stripe object (`source_id`). `routed`: the charge was a
    destination charge, so Stripe itself moved (or, for a refund, took back) the publisher's share."""
    fee = fee_of(gross, fee_percent)
    with transaction.atomic():
        entry, created = LedgerEntry.objects.get_or_create(
            source_id=source_id,
            defaults={
                "publisher": extension.publisher,
                "extension": extension,
                "organization": organization,
                "kind": kind,
                "plan_id": plan_id,
                "currency": currency.lower(),
                "gross": gross,
                "discount": discount,
                "fee": fee,
                "net": gross - fee,
                "routed": gross - fee if routed else 0,
                "tax": tax,
                "tax_jurisdiction": tax_jurisdiction,
                "occurred_at": occurred_at,
            },
        )
        if created:
            record_audit_event(
                actor=None,
                action="billing.ledger_entry_recorded",
                target=entry,
                organization=extension.publisher.organization_id,
                data={"kind": kind, "gross": gross, "fee": fee, "source": source_id},
            )
    return entry


def _jurisdiction(details: dict[str, Any] | None) -> str:
    address = ((details or {}).get("address")) or {}
    country = address.get("country") or ""
    state = address.get("state") or ""
    return f"{country}-{state}" if country and state else country


def _install_purchased(purchase: Purchase) -> None:
    from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
    from apps.marketplace.services.installations import enable_installation, install_extension

    existing = (
        Installation.objects.filter(organization=purchase.organization, extension=purchase.extension)
        .exclude(status=InstallationStatus.UNINSTALLED)
        .first()
    )
    try:
        if existing is not None:
            # Bought while installed (say on the free plan): the installation moves to the paid plan.
            if existing.plan != purchase.plan.plan_id:
                previous = existing.plan
                existing.plan = purchase.plan.plan_id
                existing.save(update_fields=["plan", "updated_at"])
                record_audit_event(
                    actor=purchase.actor,
                    action="marketplace.installation_plan_changed",
                    target=existing,
                    data={"from": previous, "to": existing.plan, "purchase": str(purchase.pk)},
                )
            if existing.status == InstallationStatus.DISABLED and purchase.actor is not None:
                enable_installation(installation=existing, actor=purchase.actor)
            installation = existing
        elif purchase.actor is None:
            raise NotPermitted("The buyer's account no longer exists.")
        else:
            installation = install_extension(
                organization=purchase.organization,
                actor=purchase.actor,
                extension=purchase.extension,
                accepted_permissions=purchase.granted_permissions,
                config=purchase.config or {},
                plan_id=purchase.plan.plan_id,
            )
    except (BusinessRuleViolation, Conflict, NotPermitted) as exc:
        # Paid but not installable (consent or configuration went stale): the license stays, and the
        # customer installs from the catalog without paying again.
        purchase.status_reason = f"Paid; installing failed: {exc}"
        purchase.save(update_fields=["status_reason", "updated_at"])
        return
    purchase.installation = installation
    purchase.status = PurchaseStatus.INSTALLED
    purchase.save(update_fields=["installation", "status", "updated_at"])


def complete_checkout(*, session: Any) -> Purchase | None:
    """A paid Checkout Session (from the webhook or the success page): license, ledger line, then install.
    Safe to call any number of times; only the first paid call does anything."""
    data = as_dict(session)
    purchase_id = (data.get("metadata") or {}).get("purchase_id") or data.get("client_reference_id")
    if not purchase_id:
        return None
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .select_related("plan", "extension__publisher", "organization", "actor")
            .filter(pk=purchase_id)
            .first()
        )
        if purchase is None or purchase.status != PurchaseStatus.PENDING:
            return purchase
        if data.get("payment_status") not in ("paid", "no_payment_required"):
            return purchase
        totals = data.get("total_details") or {}
        purchase.status = PurchaseStatus.PAID
        purchase.paid_at = timezone.now()
        purchase.stripe_session_id = data.get("id") or purchase.stripe_session_id
        purchase.stripe_payment_intent_id = _id_of(data.get("payment_intent"))
        purchase.stripe_subscription_id = _id_of(data.get("subscription"))
        purchase.amount_subtotal = int(data.get("amount_subtotal") or 0)
        purchase.amount_tax = int(totals.get("amount_tax") or 0)
        purchase.amount_total = int(data.get("amount_total") or 0)
        purchase.currency = data.get("currency") or purchase.currency
        purchase.save()
        record_audit_event(
            actor=None, action="billing.purchase_paid", target=purchase, data={"session": data.get("id")}
        )
        subscription = purchase.stripe_subscription_id
        trialing = bool(subscription and purchase.plan.trial_days)
        _grant_license(
            purchase=purchase,
            subscription_id=subscription,
            payment_intent_id=purchase.stripe_payment_intent_id,
            status=LicenseStatus.TRIALING if trialing else LicenseStatus.ACTIVE,
            as_of=_stamp(data.get("created")),
        )
        if data.get("mode") == "payment":
            # Subscriptions are booked from their invoices (invoice.paid), one-time sales from the session.
            discount = int(totals.get("amount_discount") or 0)
            _book_sale(purchase, source_id=str(data["id"]), discount=discount, details=data.get("customer_details"))
        _install_purchased(purchase)
    return purchase


def _book_sale(purchase: Purchase, *, source_id: str, discount: int, details: dict[str, Any] | None) -> None:
    common: dict[str, Any] = {
        "extension": purchase.extension,
        "organization": purchase.organization,
        "plan_id": purchase.plan.plan_id,
        "currency": purchase.currency,
        "fee_percent": purchase.fee_percent,
        "occurred_at": purchase.paid_at or timezone.now(),
        "tax_jurisdiction": _jurisdiction(details),
        "routed": bool(purchase.stripe_session_id and purchase.destination_account_id),
    }
    subtotal = purchase.amount_subtotal
    record_ledger_entry(
        kind=LedgerKind.SALE if subtotal else LedgerKind.FREE,
        gross=subtotal,
        tax=purchase.amount_tax,
        source_id=source_id,
        **common,
    )
    if discount:
        record_ledger_entry(kind=LedgerKind.DISCOUNT, gross=-discount, source_id=f"{source_id}:discount", **common)


def complete_payment_intent(*, intent: Any) -> Purchase | None:
    """A PaymentIntent that carries our purchase id succeeded (direct payments; Checkout's own intents are
    fulfilled from their session). Declined intents leave the purchase failed and nothing licensed."""
    data = as_dict(intent)
    purchase_id = (data.get("metadata") or {}).get("purchase_id")
    if not purchase_id:
        return None
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .select_related("plan", "extension__publisher", "organization", "actor")
            .filter(pk=purchase_id)
            .first()
        )
        if purchase is None or purchase.status != PurchaseStatus.PENDING or purchase.stripe_session_id:
            return purchase
        if data.get("status") != "succeeded":
            return purchase
        purchase.status = PurchaseStatus.PAID
        purchase.paid_at = timezone.now()
        purchase.stripe_payment_intent_id = str(data["id"])
        purchase.amount_total = int(data.get("amount_received") or data.get("amount") or 0)
        purchase.amount_subtotal = purchase.amount_total - purchase.amount_tax
        purchase.currency = data.get("currency") or purchase.currency
        purchase.save()
        record_audit_event(actor=None, action="billing.purchase_paid", target=purchase, data={"intent": data["id"]})
        _grant_license(
            purchase=purchase,
            subscription_id="",
            payment_intent_id=str(data["id"]),
            status=LicenseStatus.ACTIVE,
            as_of=_stamp(data.get("created")),
        )
        _book_sale(purchase, source_id=str(data["id"]), discount=0, details=None)
        _install_purchased(purchase)
    return purchase


def charge_purchase(*, purchase: Purchase, payment_method_id: str) -> Any:
    """Pay a one-time purchase with a card already on file, without Checkout (an operator's manual sale).
    The PaymentIntent carries the purchase id; the payment_intent.succeeded webhook fulfils it, and a
    declined card raises stripe.CardError and leaves the purchase unpaid."""
    customer = ensure_billing_customer(organization=purchase.organization)
    return stripe_client().PaymentIntent.create(
        amount=(purchase.plan.amount or 0) * purchase.quantity,
        currency=purchase.plan.currency,
        customer=customer.stripe_customer_id,
        payment_method=payment_method_id,
        metadata={"purchase_id": str(purchase.pk), "organization_id": str(purchase.organization_id)},
        confirm=True,
    )


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if value is None:
        return ""
    return str(value["id"]) if not isinstance(value, str) and hasattr(value, "__getitem__") else str(value)


# -- Refunds ----------------------------------------------------------------------------------------------


def refund_purchase(*, purchase: Purchase, actor: User | None, amount: int | None = None) -> LedgerEntry:
    """Refund a paid purchase (all of it by default). A destination charge's transfer and the platform's fee
    are reversed in proportion, and the ledger books a negative line that reverses the publisher's share."""
    if purchase.status not in (PurchaseStatus.PAID, PurchaseStatus.INSTALLED) or not purchase.stripe_payment_intent_id:
        from apps.core.exceptions import Conflict

        raise Conflict("Only a paid purchase can be refunded.", code="not_paid")
    params: dict[str, Any] = {"payment_intent": purchase.stripe_payment_intent_id}
    if amount is not None:
        params["amount"] = amount
    if purchase.stripe_session_id and purchase.destination_account_id:
        params["reverse_transfer"] = True
        params["refund_application_fee"] = True
    refund = stripe_client().Refund.create(**params, idempotency_key=f"refund-{purchase.pk}-{amount or 'all'}")
    return apply_refund(refund=refund, purchase=purchase, actor=actor)


def apply_refund(*, refund: Any, purchase: Purchase, actor: User | None) -> LedgerEntry:
    """Book a refund once (by its id): the negative ledger line, and for a full refund the license ends."""
    data = as_dict(refund)
    refunded = int(data.get("amount") or 0)
    total = purchase.amount_total or refunded
    # The tax on the refunded part goes back to the customer; the rest reverses the sale.
    tax_back = (
        int((Decimal(purchase.amount_tax) * refunded / total).quantize(Decimal(1), ROUND_HALF_UP)) if total else 0
    )
    with transaction.atomic():
        entry = record_ledger_entry(
            extension=purchase.extension,
            organization=purchase.organization,
            kind=LedgerKind.REFUND,
            plan_id=purchase.plan.plan_id,
            currency=purchase.currency,
            gross=-(refunded - tax_back),
            tax=-tax_back,
            fee_percent=purchase.fee_percent,
            source_id=str(data["id"]),
            occurred_at=_stamp(data.get("created")),
            routed=bool(purchase.stripe_session_id and purchase.destination_account_id),
        )
        refunded_so_far = -int(
            LedgerEntry.objects.filter(
                kind=LedgerKind.REFUND, organization=purchase.organization, extension=purchase.extension
            ).aggregate(total=Sum("gross"))["total"]
            or 0
        )
        # A refunded one-time sale ends the license; a subscription ends only when it is canceled.
        if not purchase.stripe_subscription_id and refunded_so_far >= purchase.amount_subtotal:
            license_ = License.objects.filter(
                organization=purchase.organization, extension=purchase.extension, plan_id=purchase.plan.plan_id
            ).first()
            if license_ is not None and license_.status != LicenseStatus.REFUNDED:
                license_.status = LicenseStatus.REFUNDED
                license_.save(update_fields=["status", "updated_at"])
                _disable_installations(license_, reason="The purchase was refunded.")
        record_audit_event(
            actor=actor, action="billing.purchase_refunded", target=purchase, data={"refund": data["id"]}
        )
    return entry


# -- Licenses from Stripe events --------------------------------------------------------------------------


def _disable_installations(license_: License, *, reason: str) -> None:
    from apps.marketplace.services.installations import disable_installation

    for installation in Installation.objects.filter(
        organization=license_.organization,
        extension=license_.extension,
        plan=license_.plan_id,
        status__in=(InstallationStatus.ACTIVE, InstallationStatus.FAILED),
    ):
        disable_installation(installation=installation, actor=None, reason=reason)


def _enable_installations(license_: License) -> None:
    """Re-enable installations that billing disabled (not ones an admin turned off)."""
    for installation in Installation.objects.filter(
        organization=license_.organization,
        extension=license_.extension,
        plan=license_.plan_id,
        status=InstallationStatus.DISABLED,
        status_reason__startswith="Billing:",
    ):
        with transaction.atomic():
            installation.status = InstallationStatus.ACTIVE
            installation.status_reason = ""
            installation.disabled_at = None
            installation.save(update_fields=["status", "status_reason", "disabled_at", "updated_at"])
            record_audit_event(
                actor=None,
                action="marketplace.installation_enabled",
                target=installation,
                data={"by": "billing", "license": str(license_.pk)},
            )


SUBSCRIPTION_STATUS = {
    "active": LicenseStatus.ACTIVE,
    "trialing": LicenseStatus.TRIALING,
    "past_due": LicenseStatus.PAST_DUE,
    "unpaid": LicenseStatus.PAST_DUE,
    "canceled": LicenseStatus.CANCELED,
    "incomplete_expired": LicenseStatus.CANCELED,
    "paused": LicenseStatus.LAPSED,
}


def _subscription_price_id(data: dict[str, Any]) -> str:
    items = ((data.get("items") or {}).get("data")) or []
    return str(((items[0].get("price") or {}).get("id")) or "") if items else ""


def _period_end(data: dict[str, Any]) -> dt.datetime | None:
    items = ((data.get("items") or {}).get("data")) or []
    epoch = data.get("current_period_end") or (items[0].get("current_period_end") if items else None)
    return _stamp(epoch) if epoch else None


def apply_subscription_state(*, subscription: Any, event_created: dt.datetime) -> License | None:
    """Bring the license in line with the subscription's state. An event older than the state the license
    already reflects is ignored, so out-of-order deliveries cannot resurrect a canceled license."""
    data = as_dict(subscription)
    with transaction.atomic():
        license_ = (
            License.objects.select_for_update()
            .select_related("extension", "organization")
            .filter(stripe_subscription_id=data.get("id"))
            .first()
        )
        if license_ is None:
            return None
        if license_.state_as_of and event_created < license_.state_as_of:
            return license_
        status = SUBSCRIPTION_STATUS.get(str(data.get("status")), license_.status)
        previous_plan = license_.plan_id
        price_id = _subscription_price_id(data)
        new_plan = (
            BillingPlan.objects.filter(extension=license_.extension, stripe_price_id=price_id).first()
            if price_id
            else None
        )
        if new_plan is not None and new_plan.plan_id != previous_plan:
            # An upgrade or downgrade: the same license moves to the new plan, and so do its installations.
            License.objects.filter(
                organization=license_.organization, extension=license_.extension, plan_id=new_plan.plan_id
            ).exclude(pk=license_.pk).delete()
            license_.plan_id = new_plan.plan_id
            Installation.objects.filter(
                organization=license_.organization, extension=license_.extension, plan=previous_plan
            ).update(plan=new_plan.plan_id)
        was_good = license_.in_good_standing
        license_.status = status
        items = ((data.get("items") or {}).get("data")) or []
        license_.quantity = int(items[0].get("quantity") or 1) if items else license_.quantity
        license_.current_period_end = _period_end(data) or license_.current_period_end
        license_.state_as_of = event_created
        if status == LicenseStatus.PAST_DUE:
            license_.past_due_since = license_.past_due_since or event_created
        else:
            license_.past_due_since = None
        license_.save()
        record_audit_event(
            actor=None,
            action="billing.license_updated",
            target=license_,
            data={"status": status, "plan": license_.plan_id, "previous_plan": previous_plan},
        )
        if status in (LicenseStatus.CANCELED, LicenseStatus.LAPSED) and was_good:
            _disable_installations(license_, reason="Billing: the subscription ended.")
        elif license_.in_good_standing and status != LicenseStatus.PAST_DUE:
            _enable_installations(license_)
    return license_


def _invoice_subscription_id(data: dict[str, Any]) -> str:
    parent = ((data.get("parent") or {}).get("subscription_details")) or {}
    return _id_of(data.get("subscription") or parent.get("subscription"))


def _invoice_tax(data: dict[str, Any]) -> int:
    if data.get("tax") is not None:
        return int(data["tax"])
    return sum(int(t.get("amount") or 0) for t in data.get("total_taxes") or [])


INVOICE_KINDS = {"subscription_update": LedgerKind.UPGRADE}


def apply_invoice_paid(*, invoice: Any, event_created: dt.datetime) -> License | None:
    """A subscription invoice was paid: book it and put the license back in good standing."""
    data = as_dict(invoice)
    subscription_id = _invoice_subscription_id(data)
    with transaction.atomic():
        license_ = (
            License.objects.select_for_update()
            .select_related("extension__publisher", "organization")
            .filter(stripe_subscription_id=subscription_id)
            .first()
            if subscription_id
            else None
        )
        if license_ is None:
            return None
        purchase = Purchase.objects.filter(stripe_subscription_id=subscription_id).order_by("created_at").first()
        tax = _invoice_tax(data)
        paid = int(data.get("amount_paid") or 0)
        gross = paid - tax
        kind = INVOICE_KINDS.get(str(data.get("billing_reason")), LedgerKind.SALE)
        if kind == LedgerKind.UPGRADE and gross < 0:
            kind = LedgerKind.DOWNGRADE
        if gross == 0 and kind == LedgerKind.SALE:
            kind = LedgerKind.FREE
        discount = sum(int(d.get("amount") or 0) for d in data.get("total_discount_amounts") or [])
        record_ledger_entry(
            extension=license_.extension,
            organization=license_.organization,
            kind=kind,
            plan_id=license_.plan_id,
            currency=str(data.get("currency") or "usd"),
            gross=gross + discount,
            tax=tax,
            fee_percent=purchase.fee_percent if purchase else platform_fee_percent(license_.extension.publisher),
            source_id=str(data["id"]),
            occurred_at=_stamp(data.get("created")),
            tax_jurisdiction=_jurisdiction({"address": data.get("customer_address")}),
            routed=bool(purchase and purchase.destination_account_id),
        )
        if discount:
            record_ledger_entry(
                extension=license_.extension,
                organization=license_.organization,
                kind=LedgerKind.DISCOUNT,
                plan_id=license_.plan_id,
                currency=str(data.get("currency") or "usd"),
                gross=-discount,
                fee_percent=purchase.fee_percent if purchase else Decimal(0),
                source_id=f"{data['id']}:discount",
                occurred_at=_stamp(data.get("created")),
                routed=bool(purchase and purchase.destination_account_id),
            )
        if not (license_.state_as_of and event_created < license_.state_as_of):
            license_.status = LicenseStatus.ACTIVE
            license_.past_due_since = None
            license_.state_as_of = event_created
            license_.save(update_fields=["status", "past_due_since", "state_as_of", "updated_at"])
            _enable_installations(license_)
    return license_


def apply_invoice_failed(*, invoice: Any, event_created: dt.datetime) -> License | None:
    """A renewal failed: the license is past due and the grace period starts (if it has not already)."""
    data = as_dict(invoice)
    subscription_id = _invoice_subscription_id(data)
    with transaction.atomic():
        license_ = (
            License.objects.select_for_update().filter(stripe_subscription_id=subscription_id).first()
            if subscription_id
            else None
        )
        if license_ is None or (license_.state_as_of and event_created < license_.state_as_of):
            return license_
        license_.status = LicenseStatus.PAST_DUE
        license_.past_due_since = license_.past_due_since or event_created
        license_.state_as_of = event_created
        license_.save(update_fields=["status", "past_due_since", "state_as_of", "updated_at"])
        record_audit_event(actor=None, action="billing.license_past_due", target=license_)
    return license_


def _subscription_item(subscription_id: str) -> dict[str, Any]:
    subscription = as_dict(stripe_client().Subscription.retrieve(subscription_id))
    items = ((subscription.get("items") or {}).get("data")) or []
    if not items:
        from apps.core.exceptions import Conflict

        raise Conflict("The subscription has no item to change.", code="no_subscription_item")
    return dict(items[0])


def change_license_plan(*, license_: License, plan: BillingPlan, actor: User) -> License:
    """Upgrade or downgrade a subscription to another recurring plan of the same extension, prorated. The
    license moves when Stripe confirms (customer.subscription.updated), so a failed change changes nothing."""
    from apps.core.exceptions import BusinessRuleViolation

    if plan.extension_id != license_.extension_id or plan.model not in ("subscription", "usage"):
        raise BusinessRuleViolation("Choose a subscription or usage plan of the same extension.", code="bad_plan")
    if not license_.stripe_subscription_id or not plan.stripe_price_id:
        raise BusinessRuleViolation("Only a subscription can change plans.", code="not_a_subscription")
    item = _subscription_item(license_.stripe_subscription_id)
    new_item: dict[str, Any] = {"id": item["id"], "price": plan.stripe_price_id}
    if plan.model != "usage":
        new_item["quantity"] = license_.quantity
    stripe_client().Subscription.modify(
        license_.stripe_subscription_id, items=[new_item], proration_behavior="create_prorations"
    )
    with transaction.atomic():
        record_audit_event(
            actor=actor,
            action="billing.plan_change_requested",
            target=license_,
            data={"from": license_.plan_id, "to": plan.plan_id},
        )
    return license_


def cancel_license_subscription(*, license_: License, actor: User) -> License:
    """Cancel at the end of the paid period; the license ends when Stripe deletes the subscription."""
    from apps.core.exceptions import BusinessRuleViolation

    if not license_.stripe_subscription_id:
        raise BusinessRuleViolation("Only a subscription can be canceled.", code="not_a_subscription")
    stripe_client().Subscription.modify(license_.stripe_subscription_id, cancel_at_period_end=True)
    with transaction.atomic():
        record_audit_event(actor=actor, action="billing.subscription_cancel_requested", target=license_)
    return license_


def disable_lapsed_installations(*, now: dt.datetime | None = None) -> int:
    """Licenses past due for longer than the grace period lapse, and their installations are disabled."""
    cutoff = (now or timezone.now()) - settings.BILLING_GRACE_PERIOD
    lapsed = 0
    for license_id in License.objects.filter(status=LicenseStatus.PAST_DUE, past_due_since__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            license_ = License.objects.select_for_update().get(pk=license_id)
            if license_.status != LicenseStatus.PAST_DUE:
                continue
            license_.status = LicenseStatus.LAPSED
            license_.save(update_fields=["status", "updated_at"])
            record_audit_event(actor=None, action="billing.license_lapsed", target=license_)
            _disable_installations(license_, reason="Billing: payment failed and the grace period ended.")
            lapsed += 1
    return lapsed


def process_stripe_event(*, event: Any) -> str:
    """Apply one verified Stripe event, once: a replayed event id is ignored. Returns what was done."""
    data = as_dict(event)
    created = _stamp(data.get("created"))
    obj = ((data.get("data") or {}).get("object")) or {}
    with transaction.atomic():
        receipt, fresh = StripeEventReceipt.objects.get_or_create(
            event_id=str(data["id"]), defaults={"type": str(data.get("type")), "stripe_created": created}
        )
        if not fresh:
            return "duplicate"
        outcome = _dispatch(str(data.get("type")), obj, created)
        receipt.outcome = outcome
        receipt.save(update_fields=["outcome", "updated_at"])
    return outcome


def _dispatch(kind: str, obj: dict[str, Any], created: dt.datetime) -> str:
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        purchase = complete_checkout(session=obj)
        return f"purchase {purchase.status}" if purchase else "not ours"
    if kind in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        purchase = _purchase_of(obj)
        if purchase is not None:
            cancel_purchase(purchase=purchase, actor=None, reason=f"Checkout {kind.rsplit('.', 1)[-1]}")
        return "canceled"
    if kind == "payment_intent.succeeded":
        purchase = complete_payment_intent(intent=obj)
        return f"purchase {purchase.status}" if purchase else "not ours"
    if kind == "payment_intent.payment_failed":
        purchase = _purchase_of(obj)
        if purchase is not None:
            error = (obj.get("last_payment_error") or {}).get("message") or "declined"
            cancel_purchase(purchase=purchase, actor=None, reason=f"Payment declined: {error}")
        return "declined"
    if kind in ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"):
        license_ = apply_subscription_state(subscription=obj, event_created=created)
        return f"license {license_.status}" if license_ else "no license"
    if kind == "invoice.paid":
        license_ = apply_invoice_paid(invoice=obj, event_created=created)
        return "booked" if license_ else "no license"
    if kind == "invoice.payment_failed":
        license_ = apply_invoice_failed(invoice=obj, event_created=created)
        return "past due" if license_ else "no license"
    if kind == "charge.refunded":
        return _apply_charge_refunds(obj)
    if kind == "account.updated":
        update_publisher_account(account=obj)
        return "account updated"
    return "ignored"


def _purchase_of(obj: dict[str, Any]) -> Purchase | None:
    purchase_id = (obj.get("metadata") or {}).get("purchase_id") or obj.get("client_reference_id")
    return Purchase.objects.filter(pk=purchase_id).first() if purchase_id else None


def _subscription_of_payment(intent_id: str) -> str:
    """The subscription whose invoice a PaymentIntent paid (Stripe links them through invoice payments)."""
    stripe = stripe_client()
    payments = stripe.InvoicePayment.list(payment={"type": "payment_intent", "payment_intent": intent_id}, limit=1)
    rows = as_dict(payments).get("data") or []
    if not rows:
        return ""
    invoice_id = _id_of(rows[0].get("invoice"))
    return _invoice_subscription_id(as_dict(stripe.Invoice.retrieve(invoice_id))) if invoice_id else ""


def _apply_charge_refunds(charge: dict[str, Any]) -> str:
    intent_id = _id_of(charge.get("payment_intent"))
    purchases = Purchase.objects.select_related("plan", "extension__publisher", "organization")
    purchase = purchases.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    if purchase is None and intent_id:
        # A subscription's renewal: its charge belongs to an invoice, not to the checkout's purchase.
        subscription_id = _subscription_of_payment(intent_id)
        purchase = (
            purchases.filter(stripe_subscription_id=subscription_id).order_by("created_at").first()
            if subscription_id
            else None
        )
    if purchase is None:
        return "not ours"
    for refund in ((charge.get("refunds") or {}).get("data")) or []:
        apply_refund(refund=refund, purchase=purchase, actor=None)
    return "refunded"


# -- Usage ------------------------------------------------------------------------------------------------


def record_usage(
    *, installation: Installation, event_id: str, quantity: int, occurred_at: dt.datetime | None = None
) -> UsageRecord | None:
    """Book a usage report of an installation on a metered plan (a usage plan, or another plan with a meter
    for overage), once per event id; it is sent to the plan's Stripe meter after commit. Installations on
    plans without a meter record nothing (None)."""
    plan = BillingPlan.objects.filter(extension_id=installation.extension_id, plan_id=installation.plan).first()
    if plan is None or not plan.meter:
        return None
    with transaction.atomic():
        record, created = UsageRecord.objects.get_or_create(
            installation=installation,
            event_id=event_id,
            defaults={
                "organization_id": installation.organization_id,
                "extension_id": installation.extension_id,
                "plan_id": plan.plan_id,
                "meter": plan.meter,
                "quantity": quantity,
                "occurred_at": occurred_at or timezone.now(),
            },
        )
        if created:
            record_audit_event(
                actor=None,
                action="billing.usage_recorded",
                target=record,
                data={"meter": plan.meter, "quantity": quantity},
            )
            if stripe_configured():
                from apps.billing.tasks import report_usage_task

                record_id = str(record.pk)
                transaction.on_commit(lambda: report_usage_task.delay(record_id))
    return record


def report_usage(*, usage_id: Any) -> UsageRecord | None:
    """Send one usage record to Stripe's meter; our row id is the meter event identifier, so Stripe drops a
    repeated send and the customer is billed once."""
    record = UsageRecord.objects.select_related("extension").filter(pk=usage_id).first()
    if record is None or record.reported_at is not None:
        return record
    plan = BillingPlan.objects.select_related("extension").get(extension=record.extension, plan_id=record.plan_id)
    customer = BillingCustomer.objects.filter(organization_id=record.organization_id).first()
    if customer is None:
        record.report_error = "The organization has no Stripe customer."
        record.save(update_fields=["report_error", "updated_at"])
        return record
    stripe_client().billing.MeterEvent.create(
        event_name=meter_event_name(plan),
        identifier=str(record.pk),
        timestamp=int(record.occurred_at.timestamp()),
        payload={"stripe_customer_id": customer.stripe_customer_id, "value": str(record.quantity)},
    )
    with transaction.atomic():
        record.reported_at = timezone.now()
        record.report_error = ""
        record.save(update_fields=["reported_at", "report_error", "updated_at"])
        record_audit_event(actor=None, action="billing.usage_reported", target=record)
    return record


# -- Publishers: Connect and statements ---------------------------------------------------------------------


def start_publisher_onboarding(*, publisher: Publisher, actor: User, refresh_url: str, return_url: str) -> str:
    """The Stripe-hosted onboarding link of the publisher's Connect Express account (made on first use)."""
    stripe = stripe_client()
    account = PublisherAccount.objects.filter(publisher=publisher).first()
    if account is None:
        created = stripe.Account.create(
            type="express",
            metadata={"publisher_id": str(publisher.pk)},
            capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
            business_profile={"name": publisher.name},
            idempotency_key=f"account-{publisher.pk}",
        )
        with transaction.atomic():
            account, _ = PublisherAccount.objects.get_or_create(
                publisher=publisher, defaults={"stripe_account_id": created["id"]}
            )
            record_audit_event(
                actor=actor,
                action="billing.connect_account_created",
                target=account,
                organization=publisher.organization_id,
                data={"account": account.stripe_account_id},
            )
    link = stripe.AccountLink.create(
        account=account.stripe_account_id, refresh_url=refresh_url, return_url=return_url, type="account_onboarding"
    )
    return str(link["url"])


def update_publisher_account(*, account: Any) -> PublisherAccount | None:
    """Take the Connect account's onboarding state from Stripe (account.updated, or a refresh)."""
    data = as_dict(account)
    with transaction.atomic():
        row = PublisherAccount.objects.select_for_update().filter(stripe_account_id=data.get("id")).first()
        if row is None:
            return None
        row.details_submitted = bool(data.get("details_submitted"))
        row.charges_enabled = bool(data.get("charges_enabled"))
        row.payouts_enabled = bool(data.get("payouts_enabled"))
        row.save(update_fields=["details_submitted", "charges_enabled", "payouts_enabled", "updated_at"])
        record_audit_event(
            actor=None,
            action="billing.connect_account_updated",
            target=row,
            organization=row.publisher.organization_id,
            data={"charges": row.charges_enabled, "payouts": row.payouts_enabled},
        )
    return row


def refresh_publisher_account(*, publisher: Publisher) -> PublisherAccount | None:
    account = PublisherAccount.objects.filter(publisher=publisher).first()
    if account is None:
        return None
    return update_publisher_account(account=stripe_client().Account.retrieve(account.stripe_account_id))


def _period_bounds(period_start: dt.date, period_end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(period_start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(period_end, dt.time.min, tzinfo=dt.UTC)
    return start, end


def compute_statements(*, publisher: Publisher, period_start: dt.date, period_end: dt.date) -> list[Statement]:
    """Gather the publisher's unstated ledger lines of the period into one statement per currency; the
    statement's totals are the sums of its lines."""
    start, end = _period_bounds(period_start, period_end)
    statements = []
    with transaction.atomic():
        lines = LedgerEntry.objects.select_for_update().filter(
            publisher=publisher, statement__isnull=True, occurred_at__gte=start, occurred_at__lt=end
        )
        for currency in sorted(set(lines.values_list("currency", flat=True))):
            statement, _ = Statement.objects.get_or_create(
                publisher=publisher, period_start=period_start, currency=currency, defaults={"period_end": period_end}
            )
            lines.filter(currency=currency).update(statement=statement)
            totals = statement.entries.aggregate(
                gross=Sum("gross"), fee=Sum("fee"), net=Sum("net"), routed=Sum("routed")
            )
            statement.gross = int(totals["gross"] or 0)
            statement.fee = int(totals["fee"] or 0)
            statement.net = int(totals["net"] or 0)
            statement.routed = int(totals["routed"] or 0)
            statement.save(update_fields=["gross", "fee", "net", "routed", "updated_at"])
            record_audit_event(
                actor=None,
                action="billing.statement_computed",
                target=statement,
                organization=publisher.organization_id,
                data={"net": statement.net, "currency": currency},
            )
            statements.append(statement)
    return statements


def pay_statement(*, statement: Statement) -> Statement:
    """Pay out the statement: what its charges did not already route to the publisher's Connect account
    (`net - routed`) goes in one transfer, idempotent per statement. Nothing is sent for a zero or negative
    remainder."""
    if statement.status == StatementStatus.PAID:
        return statement
    account = PublisherAccount.objects.filter(publisher_id=statement.publisher_id).first()
    remainder = statement.net - statement.routed
    if remainder <= 0:
        reason = "Paid with the charges themselves." if statement.net > 0 else "Nothing to pay for this period."
        status = StatementStatus.PAID if statement.net > 0 and remainder == 0 else StatementStatus.EMPTY
        transfer_id = ""
        remainder = 0
    elif account is None or not account.payouts_enabled:
        reason, status, transfer_id = "The publisher has not finished Stripe onboarding.", StatementStatus.FAILED, ""
        remainder = 0
    else:
        transfer = stripe_client().Transfer.create(
            amount=remainder,
            currency=statement.currency,
            destination=account.stripe_account_id,
            transfer_group=f"statement-{statement.pk}",
            metadata={"statement_id": str(statement.pk)},
            idempotency_key=f"statement-{statement.pk}",
        )
        reason, status, transfer_id = "", StatementStatus.PAID, str(transfer["id"])
    with transaction.atomic():
        statement.status = status
        statement.status_reason = reason
        statement.stripe_transfer_id = transfer_id
        statement.transferred = remainder
        statement.paid_at = timezone.now() if status == StatementStatus.PAID else None
        statement.save(
            update_fields=["status", "status_reason", "stripe_transfer_id", "transferred", "paid_at", "updated_at"]
        )
        record_audit_event(
            actor=None,
            action="billing.statement_paid" if status == StatementStatus.PAID else "billing.statement_not_paid",
            target=statement,
            organization=statement.publisher.organization_id,
            data={"net": statement.net, "transfer": transfer_id},
        )
    return statement


def close_statements(*, period_start: dt.date, period_end: dt.date) -> list[Statement]:
    """The scheduled job: every publisher with ledger lines in the period gets its statements and payouts."""
    start, end = _period_bounds(period_start, period_end)
    publisher_ids = set(
        LedgerEntry.objects.filter(statement__isnull=True, occurred_at__gte=start, occurred_at__lt=end).values_list(
            "publisher_id", flat=True
        )
    )
    done = []
    for publisher in Publisher.objects.filter(pk__in=publisher_ids):
        for statement in compute_statements(publisher=publisher, period_start=period_start, period_end=period_end):
            done.append(pay_statement(statement=statement) if stripe_configured() else statement)
    return done
