"""Reads of billing data that other apps show (the developer portal's analytics) and billing's pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from apps.billing.models import BillingPlan, LedgerEntry, License, Statement, UsageRecord

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.marketplace.models import Publisher

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RevenuePoint:
    """A publisher's earnings in one calendar month, after the platform fee and refunds."""

    month: date
    gross: Decimal
    net: Decimal
    currency: str


def publisher_revenue_by_month(*, publisher: Publisher, since: date) -> list[RevenuePoint]:
    """Monthly revenue of `publisher` from `since` on, oldest first; empty when nothing was sold."""
    start = dt.datetime.combine(since.replace(day=1), dt.time.min, tzinfo=dt.UTC)
    rows = (
        LedgerEntry.objects.filter(publisher=publisher, occurred_at__gte=start)
        .annotate(month=TruncMonth("occurred_at", tzinfo=dt.UTC))
        .values("month", "currency")
        .annotate(gross=Sum("gross"), net=Sum("net"))
        .order_by("month", "currency")
    )
    return [
        RevenuePoint(
            month=row["month"].date(),
            gross=(Decimal(row["gross"] or 0) / 100).quantize(CENT),
            net=(Decimal(row["net"] or 0) / 100).quantize(CENT),
            currency=row["currency"],
        )
        for row in rows
    ]


def publisher_statements(*, publisher: Publisher) -> list[Statement]:
    return list(Statement.objects.filter(publisher=publisher).order_by("-period_start", "currency"))


def statement_lines(*, statement: Statement) -> list[LedgerEntry]:
    return list(statement.entries.select_related("extension").order_by("occurred_at", "source_id"))


@dataclass(frozen=True)
class UsageLine:
    """Current-period usage of one metered plan and what it costs so far (cents)."""

    extension_name: str
    plan_name: str
    meter: str
    quantity: int
    cost: int
    currency: str


def tiered_cost(quantity: int, plan: BillingPlan) -> int:
    """What `quantity` units cost on the plan: graduated tiers when it has them, else the unit price."""
    if not plan.tiers:
        return quantity * int(plan.unit_amount or 0)
    cost, floor = 0, 0
    for tier in plan.tiers:
        up_to = tier.get("upTo")
        ceiling = quantity if up_to is None else min(quantity, int(up_to))
        if ceiling > floor:
            cost += (ceiling - floor) * int(tier["unitAmount"])
            floor = ceiling
        if up_to is None or quantity <= int(up_to):
            break
    return cost


def period_start(now: dt.datetime | None = None) -> dt.datetime:
    """The start of the current billing period for usage: the calendar month, in UTC."""
    now = now or timezone.now()
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def current_usage(*, organization: Organization) -> list[UsageLine]:
    """The organization's usage on metered plans since the period started, with its cost."""
    start = period_start()
    totals = (
        UsageRecord.objects.for_organization(organization)
        .filter(occurred_at__gte=start)
        .values("extension_id", "plan_id", "meter")
        .annotate(quantity=Sum("quantity"))
        .order_by("extension_id", "plan_id")
    )
    plans = {
        (p.extension_id, p.plan_id): p
        for p in BillingPlan.objects.select_related("extension").filter(
            extension_id__in={row["extension_id"] for row in totals}
        )
    }
    lines = []
    for row in totals:
        plan = plans.get((row["extension_id"], row["plan_id"]))
        if plan is None:
            continue
        quantity = int(row["quantity"] or 0)
        lines.append(
            UsageLine(
                extension_name=plan.extension.name,
                plan_name=plan.name,
                meter=row["meter"],
                quantity=quantity,
                cost=tiered_cost(quantity, plan),
                currency=plan.currency,
            )
        )
    return lines


def organization_licenses(*, organization: Organization) -> list[License]:
    return list(License.objects.for_organization(organization).select_related("extension").order_by("created_at"))
