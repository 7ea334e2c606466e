"""The organization's API page: its clients and what they called, per day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.gateway.selectors import clients_of, usage_days, usage_totals_by_client

# How many days the page shows.
DAYS_SHOWN = 30


@login_required
def api_usage(request: HttpRequest) -> HttpResponse:
    organization = request_organization(request)
    if organization is None:
        messages.info(request, "Create an organization, or accept an invitation to one, to get started.")
        return redirect("accounts:home")
    if not user_can(request.user, "gateway.view", organization):
        raise PermissionDenied(f"Your role in {organization.name} does not allow this.")
    since = timezone.now().date() - timedelta(days=DAYS_SHOWN - 1)
    totals = usage_totals_by_client(organization, since=since)
    now = timezone.now()
    clients = list(
        clients_of(organization).annotate(
            active_keys=Count(
                "keys",
                filter=Q(keys__revoked_at__isnull=True)
                & (Q(keys__expires_at__isnull=True) | Q(keys__expires_at__gt=now)),
            )
        )
    )
    empty = {"calls": 0, "client_errors": 0, "throttled": 0, "server_errors": 0, "bytes_in": 0, "bytes_out": 0}
    rows: list[dict[str, Any]] = [{"client": client, **totals.get(client.pk, empty)} for client in clients]
    for row in rows:
        row["errors"] = (row["client_errors"] or 0) + (row["server_errors"] or 0)
    days = list(usage_days(organization, days=DAYS_SHOWN).order_by("-day", "client__name"))
    context = {
        "organization": organization,
        "days_shown": DAYS_SHOWN,
        "client_rows": rows,
        "days": days,
        "total_calls": sum(row["calls"] or 0 for row in rows),
        "total_throttled": sum(row["throttled"] or 0 for row in rows),
        "total_errors": sum(row["errors"] for row in rows),
    }
    return render(request, "gateway/api_usage.html", context)
