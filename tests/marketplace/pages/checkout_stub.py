"""A stand-in for billing's checkout, named by the MARKETPLACE_CHECKOUT setting in tests."""

from __future__ import annotations

from typing import Any

from apps.marketplace.checkout import CheckoutStart

STARTED: list[dict[str, Any]] = []


def begin_stub_checkout(**kwargs: Any) -> CheckoutStart:
    STARTED.append(kwargs)
    return CheckoutStart(f"https://checkout.invalid/pay/{kwargs['plan_id']}")
