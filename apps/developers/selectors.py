"""Reads the developer portal shares: the request's publisher, its extensions and versions, and analytics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet, Sum

from apps.accounts.models import Organization
from apps.developers.models import SupportTicket
from apps.marketplace.models import (
    AnalyticsEvent,
    EventKind,
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    Publisher,
    Review,
    ReviewStatus,
)


def publisher_of(organization: Organization | None) -> Publisher | None:
    """The organization's publisher profile, if it became one."""
    if organization is None:
        return None
    return Publisher.objects.filter(organization=organization).first()


def extensions_of(publisher: Publisher) -> QuerySet[Extension]:
    return Extension.objects.filter(publisher=publisher).select_related("latest_version").order_by("slug")


def versions_of(publisher: Publisher) -> QuerySet[ExtensionVersion]:
    """Every version the publisher uploaded; anything else is not theirs to see here (404)."""
    return ExtensionVersion.objects.filter(extension__publisher=publisher).select_related("extension")


def tickets_of(publisher: Publisher) -> QuerySet[SupportTicket]:
    return SupportTicket.objects.for_organization(publisher.organization).filter(publisher=publisher)


@dataclass(frozen=True)
class Series:
    """One chart's data: labels along the x axis and one or more named rows of numbers."""

    key: str
    title: str
    labels: list[str]
    rows: dict[str, list[float]]

    def as_csv_rows(self) -> list[list[Any]]:
        names = list(self.rows)
        return [["label", *names]] + [
            [label, *(self.rows[name][i] for name in names)] for i, label in enumerate(self.labels)
        ]


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def daily_events(publisher: Publisher, *, since: date, until: date) -> Series:
    """Installs and uninstalls per day over the window, zero-filled."""
    totals: dict[tuple[date, str], int] = {}
    rows = (
        AnalyticsEvent.objects.filter(
            extension__publisher=publisher,
            kind__in=(EventKind.INSTALL, EventKind.UNINSTALL),
            day__gte=since,
            day__lte=until,
        )
        .values("day", "kind")
        .annotate(total=Sum("quantity"))
    )
    for row in rows:
        totals[(row["day"], row["kind"])] = int(row["total"] or 0)
    days = _days(since, until)
    return Series(
        key="installs",
        title="Installs and uninstalls per day",
        labels=[d.isoformat() for d in days],
        rows={
            "installs": [totals.get((d, EventKind.INSTALL), 0) for d in days],
            "uninstalls": [totals.get((d, EventKind.UNINSTALL), 0) for d in days],
        },
    )


def _active_installations(publisher: Publisher) -> QuerySet[Installation]:
    return Installation.objects.filter(extension__publisher=publisher, status=InstallationStatus.ACTIVE)


def active_installs_by_version(publisher: Publisher) -> Series:
    rows = (
        _active_installations(publisher)
        .values("extension__slug", "version__version")
        .annotate(total=Count("id"))
        .order_by("extension__slug", "version__version")
    )
    labels = [f"{r['extension__slug']}@{r['version__version']}" for r in rows]
    return Series(
        key="by-version",
        title="Active installs by version",
        labels=labels,
        rows={"active installs": [r["total"] for r in rows]},
    )


def active_installs_by_region(publisher: Publisher) -> Series:
    rows = _active_installations(publisher).values("region_code").annotate(total=Count("id")).order_by("region_code")
    return Series(
        key="by-region",
        title="Active installs by region",
        labels=[r["region_code"] or "unknown" for r in rows],
        rows={"active installs": [r["total"] for r in rows]},
    )


def ratings(publisher: Publisher) -> Series:
    """How many visible reviews gave each star rating."""
    counts = dict(
        Review.objects.filter(extension__publisher=publisher, status=ReviewStatus.VISIBLE)
        .values_list("rating")
        .annotate(total=Count("id"))
        .values_list("rating", "total")
    )
    return Series(
        key="ratings",
        title="Ratings",
        labels=[f"{stars} star{'s' if stars > 1 else ''}" for stars in range(1, 6)],
        rows={"reviews": [counts.get(stars, 0) for stars in range(1, 6)]},
    )


def revenue(publisher: Publisher, *, since: date) -> Series:
    """Monthly revenue from billing (gross and net, in major units)."""
    from apps.billing.selectors import publisher_revenue_by_month

    points = publisher_revenue_by_month(publisher=publisher, since=since)
    currency = points[0].currency.upper() if points else ""
    return Series(
        key="revenue",
        title=f"Revenue per month{' (' + currency + ')' if currency else ''}",
        labels=[p.month.strftime("%Y-%m") for p in points],
        rows={"gross": [float(p.gross) for p in points], "net": [float(p.net) for p in points]},
    )


SERIES_KEYS = ("installs", "by-version", "by-region", "ratings", "revenue")


def analytics_series(publisher: Publisher, *, since: date, until: date) -> dict[str, Series]:
    """Every chart of the analytics page, keyed by its stable id (used by the CSV export)."""
    return {
        "installs": daily_events(publisher, since=since, until=until),
        "by-version": active_installs_by_version(publisher),
        "by-region": active_installs_by_region(publisher),
        "ratings": ratings(publisher),
        "revenue": revenue(publisher, since=since),
    }
