"""Reads of the gateway shared by the API, the pages and the admin."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import Organization
from apps.core.process_cache import ProcessCache
from apps.gateway.models import ApiClient, OrganizationLimit, Plan, UsageDay

DEFAULT_PLAN = {"slug": "standard", "name": "Standard", "rate_per_minute": 600, "burst": 60, "monthly_quota": 1_000_000}


def default_plan() -> Plan:
    """The plan new clients get: the one marked default, or the built-in Standard plan."""
    plan = Plan.objects.filter(is_default=True).first()
    if plan is not None:
        return plan
    plan, _ = Plan.objects.get_or_create(
        slug=DEFAULT_PLAN["slug"], defaults={key: value for key, value in DEFAULT_PLAN.items() if key != "slug"}
    )
    return plan


# Organization limits change rarely (operators set them in the admin) and every call consults them.
ORGANIZATION_PLANS = ProcessCache("gateway-organization-plans", watch=("gateway.OrganizationLimit", "gateway.Plan"))


def organization_plan(organization_id: Any) -> Plan | None:
    """The plan capping all of an organization's clients, if it has one."""

    def load() -> Plan | None:
        limit = OrganizationLimit.objects.select_related("plan").filter(organization_id=organization_id).first()
        return limit.plan if limit is not None else None

    return ORGANIZATION_PLANS.get(str(organization_id), load)


def usage_days(organization: Organization, *, days: int = 30) -> QuerySet[UsageDay]:
    since = timezone.now().date() - timedelta(days=days - 1)
    return UsageDay.objects.for_organization(organization).filter(day__gte=since).select_related("client")


def usage_totals_by_client(organization: Organization, *, since: date) -> dict[Any, dict[str, int]]:
    """Calls, errors and bytes per client since a day (from the daily roll-up)."""
    rows = (
        UsageDay.objects.for_organization(organization)
        .filter(day__gte=since)
        .values("client_id")
        .annotate(
            calls=Sum("calls"),
            client_errors=Sum("client_errors"),
            throttled=Sum("throttled"),
            server_errors=Sum("server_errors"),
            bytes_in=Sum("bytes_in"),
            bytes_out=Sum("bytes_out"),
        )
    )
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        values: dict[str, Any] = dict(row)
        totals[values.pop("client_id")] = values
    return totals


def clients_of(organization: Organization) -> QuerySet[ApiClient]:
    return ApiClient.objects.for_organization(organization).select_related("plan", "owner")
