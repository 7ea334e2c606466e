"""Reads of security data shared by the pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from apps.security.models import SecurityEvent, SecurityNotification
from apps.security.models.events import OPEN_STATUSES


def events_for(organization: Any) -> QuerySet[SecurityEvent]:
    """The organization's events, open ones first, each newest first."""
    return (
        SecurityEvent.objects.for_organization(organization)
        .annotate(
            closed=Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .select_related("user", "assigned_to")
        .prefetch_related("responses")
        .order_by("closed", "-last_seen_at")
    )


def unread_alerts(user: Any, organization: Any) -> QuerySet[SecurityNotification]:
    return (
        SecurityNotification.objects.filter(recipient=user, organization=organization, read_at__isnull=True)
        .select_related("event")
        .order_by("-created_at")
    )
