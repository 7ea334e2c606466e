"""Events that dj-stripe processes reach billing too.

A deployment may point Stripe at dj-stripe's own webhook endpoint (a `WebhookEndpoint` row) instead of
ours; dj-stripe then verifies, stores and syncs the event and sends its `WEBHOOK_SIGNALS`. Billing listens to
the event types it acts on and applies them through the same once-per-event-id service as its own endpoint,
so an event delivered to both is still applied once.
"""

from __future__ import annotations

from typing import Any

BILLING_EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "account.updated",
)


def apply_djstripe_event(sender: Any, event: Any, **_: Any) -> str:
    """dj-stripe's stored Event, applied by billing (duplicates of our own deliveries are ignored)."""
    from apps.billing.services import process_stripe_event

    return process_stripe_event(
        event={
            "id": event.id,
            "type": event.type,
            "created": int(event.created.timestamp()),
            "data": dict(event.data or {}),
        }
    )


def connect_djstripe_events() -> list[str]:
    """Listen to dj-stripe's webhook signals for billing's event types; returns the types connected."""
    from djstripe.signals import WEBHOOK_SIGNALS

    connected = []
    for event_type in BILLING_EVENT_TYPES:
        signal = WEBHOOK_SIGNALS.get(event_type)
        if signal is not None:
            signal.connect(apply_djstripe_event, dispatch_uid=f"billing:{event_type}")
            connected.append(event_type)
    return connected
