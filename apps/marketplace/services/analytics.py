"""Countable events for publishers' analytics: installs, uninstalls, updates, usage, downloads, revenue."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.marketplace.models import AnalyticsEvent, EventKind, Extension, ExtensionVersion


def record_analytics_event(
    *,
    extension: Extension,
    kind: str,
    version: ExtensionVersion | None = None,
    organization: Any = None,
    quantity: int = 1,
    amount_cents: int = 0,
    currency: str = "",
    idempotency_key: str | None = None,
) -> AnalyticsEvent | None:
    """Count one event for the extension's publisher. With an idempotency key, a repeat is ignored (None).

    Billing calls this with kind `revenue` (amount in minor units) for each charge and refund.
    """
    if kind not in EventKind.values:
        raise ValueError(f"Unknown analytics event kind {kind!r}.")
    region = getattr(organization, "home_region_code", "") if organization is not None else ""
    try:
        with transaction.atomic():
            return AnalyticsEvent.objects.create(
                extension=extension,
                version=version,
                organization=organization,
                kind=kind,
                day=timezone.now().date(),
                region_code=region,
                quantity=quantity,
                amount_cents=amount_cents,
                currency=currency.lower(),
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        return None
