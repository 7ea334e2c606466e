"""Billing pages: the publisher's payouts (Connect status, onboarding, statements and their CSV), the
customer's checkout result pages and current-period usage, and Stripe's webhook.

Pages need a signed-in member with the named permission in the active organization; the webhook is public
and authenticates each delivery by its Stripe signature."""

from __future__ import annotations

import csv
import logging
from typing import Any

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Organization, User
from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.billing import selectors, services
from apps.billing.models import BillingPlan, License, PublisherAccount, Purchase, PurchaseStatus, Statement
from apps.billing.stripe_api import BillingNotConfigured, stripe_client, stripe_configured
from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace.models import Publisher
from apps.security.client_ip import client_ip
from apps.security.observers import observe_quietly
from apps.security.services import observe_webhook_signature_failure

logger = logging.getLogger(__name__)


def _organization(request: HttpRequest, perm: str) -> Organization:
    organization = request_organization(request)
    if organization is None:
        raise Http404("No organization.")
    if not user_can(request.user, perm, organization):
        raise PermissionDenied("Your role does not allow this.")
    return organization


def _user(request: HttpRequest) -> User:
    """The signed-in person (every page here is behind login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def _publisher(request: HttpRequest) -> Publisher:
    organization = _organization(request, "extensions.publish")
    publisher = Publisher.objects.filter(organization=organization).first()
    if publisher is None:
        raise Http404("The organization is not a publisher.")
    return publisher


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@login_required
@require_GET
def payouts(request: HttpRequest) -> HttpResponse:
    publisher = _publisher(request)
    account = PublisherAccount.objects.filter(publisher=publisher).first()
    statements = [
        {"statement": s, "gross": money(s.gross), "fee": money(s.fee), "net": money(s.net)}
        for s in selectors.publisher_statements(publisher=publisher)
    ]
    return render(
        request,
        "billing/payouts.html",
        {
            "publisher": publisher,
            "account": account,
            "statements": statements,
            "fee_percent": services.platform_fee_percent(publisher),
            "billing_available": stripe_configured(),
        },
    )


@login_required
@require_POST
def start_onboarding(request: HttpRequest) -> HttpResponse:
    publisher = _publisher(request)
    if not stripe_configured():
        messages.error(request, "Payouts are unavailable on this deployment: billing is not set up.")
        return redirect("billing:payouts")
    back = request.build_absolute_uri(reverse("billing:onboarding-return"))
    try:
        url = services.start_publisher_onboarding(
            publisher=publisher, actor=_user(request), refresh_url=back, return_url=back
        )
    except (stripe.StripeError, BillingNotConfigured):
        logger.exception("Stripe onboarding link failed for publisher %s.", publisher.pk)
        messages.error(request, "Stripe could not start onboarding; please try again.")
        return redirect("billing:payouts")
    return redirect(url)


@login_required
@require_GET
def onboarding_return(request: HttpRequest) -> HttpResponse:
    publisher = _publisher(request)
    try:
        services.refresh_publisher_account(publisher=publisher)
    except (stripe.StripeError, BillingNotConfigured):
        messages.error(request, "Could not read the account's status from Stripe; it updates on its own shortly.")
    return redirect("billing:payouts")


@login_required
@require_GET
def statement_csv(request: HttpRequest, pk: Any) -> HttpResponse:
    publisher = _publisher(request)
    statement = get_object_or_404(Statement, pk=pk, publisher=publisher)
    return statement_csv_response(statement)


def statement_csv_response(statement: Statement) -> HttpResponse:
    """Every line of the statement: each sale, $0 sale, discount, refund or plan change with what the customer
    paid, followed by its platform fee as a line of its own (negative), so the `amount` column adds up to
    the payout. Tax collected is shown beside each line but is not the publisher's."""
    response = HttpResponse(content_type="text/csv")
    name = f"statement-{statement.period_start:%Y-%m}-{statement.currency}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["date", "kind", "extension", "plan", "source", "currency", "amount", "tax"])
    for line in selectors.statement_lines(statement=statement):
        day = line.occurred_at.date().isoformat()
        common = [line.extension.slug, line.plan_id]
        writer.writerow([day, line.kind, *common, line.source_id, line.currency, money(line.gross), money(line.tax)])
        if line.fee:
            writer.writerow([day, "fee", *common, f"{line.source_id}:fee", line.currency, money(-line.fee), ""])
    writer.writerow(["payout", "", "", "", statement.stripe_transfer_id, statement.currency, money(statement.net), ""])
    return response


@login_required
@require_GET
def checkout_success(request: HttpRequest) -> HttpResponse:
    organization = _organization(request, "extensions.install")
    session_id = request.GET.get("session_id", "")
    purchase = Purchase.objects.for_organization(organization).filter(stripe_session_id=session_id).first()
    if not session_id or purchase is None:
        raise Http404("No such checkout.")
    if purchase.status == PurchaseStatus.PENDING:
        # The webhook may not have arrived yet: ask Stripe directly, so the install does not wait for it.
        try:
            session = stripe_client().checkout.Session.retrieve(session_id)
            services.complete_checkout(session=session)
        except (stripe.StripeError, BillingNotConfigured):
            logger.warning("Could not verify checkout session %s on the success page.", session_id)
        purchase.refresh_from_db()
    return render(
        request,
        "billing/checkout_result.html",
        {"purchase": purchase, "extension": purchase.extension, "succeeded": purchase.status != "pending"},
    )


@login_required
@require_GET
def checkout_cancel(request: HttpRequest) -> HttpResponse:
    organization = _organization(request, "extensions.install")
    purchase_id = _uuid(request.GET.get("purchase"))
    purchase = Purchase.objects.for_organization(organization).filter(pk=purchase_id).first() if purchase_id else None
    if purchase is None:
        raise Http404("No such checkout.")
    purchase = services.cancel_purchase(purchase=purchase, actor=_user(request), reason="Checkout canceled")
    return render(
        request,
        "billing/checkout_result.html",
        {"purchase": purchase, "extension": purchase.extension, "succeeded": False},
    )


def _uuid(value: str | None) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    organization = _organization(request, "billing.view")
    lines = [{"line": line, "cost": money(line.cost)} for line in selectors.current_usage(organization=organization)]
    return render(
        request,
        "billing/usage.html",
        {
            "lines": lines,
            "licenses": selectors.organization_licenses(organization=organization),
            "period_start": selectors.period_start(),
            "billing_available": stripe_configured(),
        },
    )


def _license(request: HttpRequest, pk: Any) -> License:
    organization = _organization(request, "billing.manage")
    return get_object_or_404(License.objects.for_organization(organization).select_related("extension"), pk=pk)


@login_required
@require_POST
def cancel_subscription(request: HttpRequest, pk: Any) -> HttpResponse:
    license_ = _license(request, pk)
    try:
        services.cancel_license_subscription(license_=license_, actor=_user(request))
        messages.success(request, "The subscription ends at the end of the paid period.")
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    except (stripe.StripeError, BillingNotConfigured):
        messages.error(request, "Stripe could not cancel the subscription; please try again.")
    return redirect("billing_customer:usage")


@login_required
@require_POST
def change_plan(request: HttpRequest, pk: Any) -> HttpResponse:
    license_ = _license(request, pk)
    plan = BillingPlan.objects.filter(extension=license_.extension, plan_id=request.POST.get("plan", "")).first()
    if plan is None:
        messages.error(request, "Choose one of the extension's plans.")
        return redirect("billing_customer:usage")
    try:
        services.change_license_plan(license_=license_, plan=plan, actor=_user(request))
        messages.success(request, f"Switching to {plan.name}; the change shows here once Stripe confirms it.")
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    except (stripe.StripeError, BillingNotConfigured):
        messages.error(request, "Stripe could not change the plan; please try again.")
    return redirect("billing_customer:usage")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events. A delivery without a valid signature (or a stale one) is refused with 400; an event
    id seen before is acknowledged and ignored."""
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    if not secret:
        return HttpResponseBadRequest("Webhooks are not configured.")
    try:
        event = stripe.Webhook.construct_event(
            request.body.decode("utf-8"), request.headers.get("Stripe-Signature", ""), secret
        )
    except (ValueError, stripe.SignatureVerificationError):
        # Forged or replayed deliveries in bulk are a security event, as for connectors' webhooks.
        observe_quietly(observe_webhook_signature_failure, source="stripe", ip=client_ip(request))
        return HttpResponseBadRequest("Invalid signature.")
    outcome = services.process_stripe_event(event=event)
    return HttpResponse(outcome, content_type="text/plain")
