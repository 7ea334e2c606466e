"""Reads of billing data that other apps show (the developer portal's analytics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.marketplace.models import Publisher


@dataclass(frozen=True)
class RevenuePoint:
    """A publisher's earnings in one calendar month, after the platform fee and refunds."""

    month: date
    gross: Decimal
    net: Decimal
    currency: str


def publisher_revenue_by_month(*, publisher: Publisher, since: date) -> list[RevenuePoint]:
    """Monthly revenue of `publisher` from `since` on, oldest first; empty when nothing was sold."""
    # Filled in by the billing ledger; no sales are recorded before it exists.
    return []
