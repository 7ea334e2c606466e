"""What the catalog shows for an extension: its latest published version's metadata, its ranking inputs and,
on PostgreSQL, its search vector. Kept on the row so search never aggregates."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import CombinedExpression
from django.utils import timezone

from apps.marketplace.models import Category, Extension, ExtensionVersion, VersionStatus
from nofx_sdk.rules.manifest import PricingModel

# Bayesian rating: every extension starts as if it had PRIOR_VOTES votes of PRIOR_MEAN stars.
PRIOR_VOTES = 10
PRIOR_MEAN = 3.5
# Relevance = TEXT_WEIGHT * text rank * penalty + (1 - TEXT_WEIGHT) * quality_score.
TEXT_WEIGHT = 0.6
DEPRECATED_PENALTY = 0.5
UNVERIFIED_PENALTY = 0.8
RECENCY_HALF_LIFE_DAYS = 180
# log10 installs are capped here: past 100,000 active installs popularity stops adding.
INSTALLS_LOG_CAP = 5.0


def bayesian_rating(rating_sum: int, rating_count: int) -> float:
    return (PRIOR_VOTES * PRIOR_MEAN + rating_sum) / (PRIOR_VOTES + rating_count)


def quality_parts(
    *,
    rating_sum: int,
    rating_count: int,
    active_installs: int,
    published_at: datetime | None,
    deprecated: bool,
    verified: bool,
    now: datetime,
) -> tuple[float, float, float]:
    """(bayesian rating, quality score 0..1 with penalties applied, penalty)."""
    bayes = bayesian_rating(rating_sum, rating_count)
    installs = min(math.log10(1 + active_installs) / INSTALLS_LOG_CAP, 1.0)
    age_days = max((now - published_at).total_seconds() / 86400, 0) if published_at else 10 * RECENCY_HALF_LIFE_DAYS
    recency = 1 / (1 + age_days / RECENCY_HALF_LIFE_DAYS)
    penalty = (DEPRECATED_PENALTY if deprecated else 1.0) * (1.0 if verified else UNVERIFIED_PENALTY)
    quality = (0.45 * bayes / 5 + 0.35 * installs + 0.20 * recency) * penalty
    return bayes, quality, penalty


def _latest_published(extension: Extension) -> ExtensionVersion | None:
    versions = list(ExtensionVersion.objects.filter(extension=extension, status=VersionStatus.PUBLISHED))
    releases = [v for v in versions if not v.is_prerelease] or versions
    from nofx_sdk.rules.semver import Version

    return max(releases, key=lambda v: Version.parse(v.version), default=None)


def _cheapest_model(manifest: dict) -> str:
    plans = ((manifest or {}).get("pricing") or {}).get("plans") or []
    models = [p.get("model") for p in plans if isinstance(p, dict)]
    if not models or PricingModel.FREE in models:
        return PricingModel.FREE
    return str(models[0])


def refresh_extension_listing(*, extension: Extension) -> Extension:
    """Re-derive the catalog fields from the latest published version, and the ranking and search vector."""
    with transaction.atomic():
        extension = (
            Extension.objects.select_for_update(of=("self",))
            .select_related("publisher__organization")
            .get(pk=extension.pk)
        )
        latest = _latest_published(extension)
        extension.latest_version = latest
        if latest is not None:
            manifest = latest.manifest or {}
            extension.name = str(manifest.get("name") or extension.name)[:80]
            extension.summary = str(manifest.get("description") or "")
            tags = [str(t) for t in manifest.get("tags") or []]
            extension.tags = tags
            extension.tags_text = " ".join(tags)[:400]
            extension.type = manifest.get("type") or extension.type
            extension.pricing = _cheapest_model(manifest)
            extension.support_level = (manifest.get("support") or {}).get("level") or "community"
            extension.is_certified = latest.certified_at is not None
            extension.published_at = latest.published_at
            slug = manifest.get("category")
            if slug:
                extension.category, _ = Category.objects.get_or_create(
                    slug=slug, defaults={"name": str(slug).replace("-", " ").title()}
                )
        else:
            extension.is_certified = False
        _apply_ranking(extension, timezone.now())
        extension.save()
        if connection.vendor == "postgresql":
            Extension.objects.filter(pk=extension.pk).update(search_vector=search_vector_expression())
        # Every catalog change (publish, yank, quarantine, deprecate, delist, publisher verification) ends
        # here, so this is where the replicated catalog entry follows it.
        from apps.marketplace.services.directory import publish_extension_entry

        publish_extension_entry(extension=extension)
    return extension


def search_vector_expression() -> CombinedExpression:
    """Name weighs most, then tags, then the description."""
    return (
        SearchVector("name", weight="A", config="english")
        + SearchVector("tags_text", weight="B", config="english")
        + SearchVector("summary", weight="C", config="english")
    )


def _apply_ranking(extension: Extension, now: datetime) -> None:
    bayes, quality, penalty = quality_parts(
        rating_sum=extension.rating_sum,
        rating_count=extension.rating_count,
        active_installs=extension.active_installs,
        published_at=extension.published_at,
        deprecated=extension.is_deprecated,
        verified=extension.publisher.is_verified,
        now=now,
    )
    extension.bayesian_rating = bayes
    extension.quality_score = quality
    extension.ranking_penalty = penalty


def refresh_catalog_rankings() -> int:
    """Recompute every listed extension's ranking (recency moves daily). Returns how many were updated."""
    now = timezone.now()
    batch: list[Extension] = []
    count = 0
    listed = Extension.objects.filter(Q(latest_version__isnull=False)).select_related("publisher")
    for extension in listed.iterator(chunk_size=1000):
        _apply_ranking(extension, now)
        batch.append(extension)
        if len(batch) >= 1000:
            Extension.objects.bulk_update(batch, ["bayesian_rating", "quality_score", "ranking_penalty"])
            count += len(batch)
            batch = []
    if batch:
        Extension.objects.bulk_update(batch, ["bayesian_rating", "quality_score", "ranking_penalty"])
        count += len(batch)
    return count


def adjust_counters(*, extension_id: Any, active: int = 0, total: int = 0) -> None:
    """Move an extension's install counters and its ranking with them."""
    from django.db.models import F

    with transaction.atomic():
        Extension.objects.filter(pk=extension_id).update(
            active_installs=F("active_installs") + active, total_installs=F("total_installs") + total
        )
        extension = Extension.objects.select_related("publisher").get(pk=extension_id)
        _apply_ranking(extension, timezone.now())
        extension.save(update_fields=["bayesian_rating", "quality_score", "ranking_penalty"])
