"""The security pages of an organization: its events with the responses taken, and your in-app alerts.

Reading needs `security.view`; other organizations' events answer 404. Resolving and reversing happen
in the API and the admin queue.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Organization
from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.security import services
from apps.security.models import SecurityEvent
from apps.security.selectors import events_for, unread_alerts

EVENTS_SHOWN = 100


def _organization(request: HttpRequest) -> Organization:
    organization = request_organization(request)
    if organization is None:
        raise Http404("No organization.")
    if not user_can(request.user, "security.view", organization):
        raise PermissionDenied("Your role does not include security.")
    return organization


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    events = list(events_for(organization)[:EVENTS_SHOWN])
    context = {
        "organization": organization,
        "events": events,
        "open_count": sum(1 for e in events if e.is_open),
        "alerts": list(unread_alerts(request.user, organization)[:20]),
    }
    return render(request, "security/overview.html", context)


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    organization = _organization(request)
    event = get_object_or_404(
        SecurityEvent.objects.for_organization(organization).select_related("user", "assigned_to", "resolved_by"),
        pk=pk,
    )
    context = {
        "event": event,
        "responses": list(event.responses.order_by("created_at")),
        "notes": list(event.notes.select_related("author").order_by("created_at")),
    }
    return render(request, "security/event.html", context)


@login_required
@require_POST
def mark_alerts_read(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    count = services.mark_security_alerts_read(user=request.user, organization=organization)
    messages.success(request, f"{count} alerts marked as read.")
    return redirect("security:overview")
