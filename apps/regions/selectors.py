"""Reads about regions that other apps and the request path share."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.core.process_cache import ProcessCache
from apps.regions.models import (
    DeliveryStatus,
    DirectoryEntry,
    DirectoryKind,
    OutboxDelivery,
    Region,
    RegionHealthSample,
    RegionStatus,
    ResidencyRule,
)


def local_region_code() -> str:
    """The region this deployment serves (`NOFX_REGION`)."""
    return str(settings.REGION_CODE)


def placeable_region_codes() -> list[str]:
    """Codes of the regions a new organization may be homed in: the active ones."""
    return list(Region.objects.filter(status=RegionStatus.ACTIVE).order_by("code").values_list("code", flat=True))


def region_by_code(code: str) -> Region | None:
    return Region.objects.filter(code=code).first()


def listed_regions() -> QuerySet[Region]:
    return Region.objects.order_by("code")


@dataclass(frozen=True)
class Home:
    """Where an organization lives, as far as this region knows."""

    region_code: str
    public_url: str | None


def home_of_organization_slug(slug: str) -> Home | None:
    """The home region of the organization with this slug: the local row first, then the replicated directory."""
    from apps.accounts.models import Organization

    local = Organization.objects.filter(slug=slug).values_list("home_region_code", flat=True).first()
    code = local
    if code is None:
        entry = (
            DirectoryEntry.objects.filter(kind=DirectoryKind.ORGANIZATION, slug=slug, is_deleted=False)
            .order_by("-version")
            .values_list("region_code", flat=True)
            .first()
        )
        code = entry
    if code is None:
        return None
    return Home(region_code=code, public_url=region_public_url(code))


def region_public_url(code: str) -> str | None:
    return Region.objects.filter(code=code).values_list("public_url", flat=True).first()


# Consulted before every sync write and gateway action; rules change a few times a year.
RESIDENCY_RULES = ProcessCache("residency-rules", watch=("regions.ResidencyRule", "regions.Region"))


def residency_rules_for(*, region_code: str, organization_id: object) -> list[ResidencyRule]:
    """The active rules governing where an organization's data may go: its region's and its own."""
    return RESIDENCY_RULES.get(
        (region_code, str(organization_id)),
        lambda: list(
            ResidencyRule.objects.filter(region__code=region_code, is_active=True)
            .filter(Q(organization__isnull=True) | Q(organization_id=organization_id))
            .select_related("region")
        ),
    )


def pending_deliveries_count(region: Region | None = None) -> int:
    pending = OutboxDelivery.objects.filter(status=DeliveryStatus.PENDING)
    if region is not None:
        pending = pending.filter(region=region)
    return pending.count()


def latest_health_samples() -> dict[str, RegionHealthSample]:
    """The newest health sample of every region this region has heard from (one query per region)."""
    latest: dict[str, RegionHealthSample] = {}
    for code in Region.objects.order_by("code").values_list("code", flat=True):
        sample = RegionHealthSample.objects.filter(region_code=code).order_by("-sampled_at").first()
        if sample is not None:
            latest[code] = sample
    return latest
