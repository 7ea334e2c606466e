"""Reads shared by the API, the website and the admin: catalog search with facets, consent data, analytics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce

from apps.accounts.models import Organization, User
from apps.accounts.roles import PERMISSIONS
from apps.marketplace.models import (
    AnalyticsEvent,
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    VersionStatus,
)
from apps.marketplace.services.catalog import TEXT_WEIGHT
from apps.marketplace.services.installations import permissions_of, ungrantable_scopes
from nofx_sdk.rules.manifest import ExtensionType, PricingModel, SupportLevel

SORTS = ("relevance", "popularity", "rating", "newest")
FACETS = ("type", "category", "pricing", "support_level", "certified")


@dataclass(frozen=True)
class CatalogQuery:
    text: str = ""
    type: str = ""
    category: str = ""
    pricing: str = ""
    support_level: str = ""
    certified: bool | None = None
    sort: str = "relevance"

    def filters(self, *, skip: str = "") -> Q:
        q = Q()
        if self.type and skip != "type":
            q &= Q(type=self.type)
        if self.category and skip != "category":
            q &= Q(category__slug=self.category)
        if self.pricing and skip != "pricing":
            q &= Q(pricing=self.pricing)
        if self.support_level and skip != "support_level":
            q &= Q(support_level=self.support_level)
        if self.certified is not None and skip != "certified":
            q &= Q(is_certified=self.certified)
        return q


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _search_query(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config="english")


def _text_matches(query: CatalogQuery) -> QuerySet[Extension]:
    """Listed extensions matching the text, without facet filters and without ranking."""
    listed = Extension.objects.listed()
    text = query.text.strip()
    if not text:
        return listed
    if _on_postgres():
        return listed.filter(search_vector=_search_query(text))
    return simple_matching(listed, text)


def _matching(query: CatalogQuery) -> QuerySet[Extension]:
    """Listed extensions matching the text (no facet filters yet), annotated with `relevance`."""
    listed = Extension.objects.listed()
    text = query.text.strip()
    if not text:
        return listed.annotate(relevance=F("quality_score"))
    if _on_postgres():
        search = _search_query(text)
        return listed.filter(search_vector=search).annotate(
            # normalization 32 maps the rank into 0..1 (rank / (rank + 1)), comparable with quality_score.
            relevance=ExpressionWrapper(
                Value(TEXT_WEIGHT) * SearchRank(F("search_vector"), search, normalization=32) * F("ranking_penalty")
                + Value(1 - TEXT_WEIGHT) * F("quality_score"),
                output_field=FloatField(),
            )
        )
    return simple_matching(listed, text)


def simple_matching(extensions: QuerySet[Extension], text: str) -> QuerySet[Extension]:
    """The fallback without PostgreSQL: every word must appear in the name, tags or description (any case);
    extensions whose name holds a word rank first, then by quality."""
    words = text.split()
    name_hits = Q()
    for word in words:
        extensions = extensions.filter(
            Q(name__icontains=word) | Q(tags_text__icontains=word) | Q(summary__icontains=word)
        )
        name_hits |= Q(name__icontains=word)
    return extensions.annotate(
        relevance=ExpressionWrapper(
            Case(When(name_hits, then=Value(TEXT_WEIGHT)), default=Value(0.0)) + F("quality_score"),
            output_field=FloatField(),
        )
    )


CARD_FIELDS = (
    "id",
    "slug",
    "name",
    "type",
    "summary",
    "tags",
    "pricing",
    "support_level",
    "is_certified",
    "is_deprecated",
    "active_installs",
    "rating_count",
    "rating_sum",
    "published_at",
    "publisher__slug",
    "publisher__name",
    "publisher__verification",
    "category__slug",
    "latest_version__version",
)

_ORDER = {
    "relevance": ("-relevance", "-quality_score", "slug"),
    "popularity": ("-active_installs", "-quality_score", "slug"),
    "rating": ("-bayesian_rating", "-rating_count", "slug"),
    "newest": (F("published_at").desc(nulls_last=True), "slug"),
}


def search_catalog(query: CatalogQuery) -> QuerySet[Extension]:
    """The catalog page: matching, filtered, sorted extensions (select the related rows the list shows)."""
    matching = _matching(query).filter(query.filters())
    # Only what a catalog card shows: the sort then moves narrow rows (the search vector alone is wide).
    order = _ORDER.get(query.sort, _ORDER["relevance"])
    if query.text.strip() and _on_postgres():
        # Sort on expressions, not the bare indexed columns: otherwise PostgreSQL may walk a whole
        # popularity/rating index hoping to meet enough text matches early, which is slow for rare words.
        # Filtering through the GIN index and sorting the matches is fast for every word.
        order = tuple(_unindexed(key) for key in order)
    return matching.select_related("publisher", "category", "latest_version").only(*CARD_FIELDS).order_by(*order)


def _unindexed(key: Any) -> Any:
    if isinstance(key, str) and key.lstrip("-") in ("active_installs", "bayesian_rating", "rating_count"):
        name = key.lstrip("-")
        expression = ExpressionWrapper(F(name) + 0, output_field=FloatField())
        return expression.desc() if key.startswith("-") else expression.asc()
    if isinstance(key, OrderBy) and getattr(key.expression, "name", "") == "published_at":
        return OrderBy(Coalesce(F("published_at"), F("published_at")), descending=key.descending, nulls_last=True)
    return key


def catalog_page(query: CatalogQuery, *, offset: int, limit: int) -> tuple[list[Extension], int]:
    """One page of results and the number of matches."""
    results = search_catalog(query)
    rows: list[Extension] = list(results[offset : offset + limit])
    total = offset + len(rows) if len(rows) < limit and (rows or not offset) else results.count()
    return rows, total


def catalog_facets(query: CatalogQuery) -> dict[str, list[dict[str, Any]]]:
    """Counts per value of each facet, each counted with every other active filter applied (so choosing a
    value never hides the alternatives of the same facet). Two queries: one pass with a filtered count per
    value of the fixed facets, one group-by for categories."""
    base = _text_matches(query).order_by()
    fixed: dict[str, tuple[str, list[Any]]] = {
        "type": ("type", [t.value for t in ExtensionType]),
        "pricing": ("pricing", [p.value for p in PricingModel]),
        "support_level": ("support_level", [s.value for s in SupportLevel]),
        "certified": ("is_certified", [True, False]),
    }
    aggregates = {
        f"{facet}__{i}": Count("id", filter=query.filters(skip=facet) & Q(**{column: value}))
        for facet, (column, values) in fixed.items()
        for i, value in enumerate(values)
    }
    totals = base.aggregate(**aggregates)
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet, (_, values) in fixed.items():
        counted = [{"value": value, "count": totals[f"{facet}__{i}"]} for i, value in enumerate(values)]
        facets[facet] = sorted((c for c in counted if c["count"]), key=lambda c: (-c["count"], str(c["value"])))
    rows = (
        base.filter(query.filters(skip="category"), category__isnull=False)
        .values("category__slug")
        .annotate(count=Count("id"))
        .order_by("-count", "category__slug")
    )
    facets["category"] = [{"value": row["category__slug"], "count": row["count"]} for row in rows]
    return {name: facets[name] for name in FACETS}


# -- Consent -------------------------------------------------------------------------------------------


@dataclass
class Consent:
    """What the consent screen shows: what the extension may do and whether this person may grant it."""

    extension: Extension
    version: ExtensionVersion | None
    permissions: dict[str, list[str]] = field(default_factory=dict)
    scopes: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    config_schema: dict[str, Any] | None = None
    secret_fields: list[str] = field(default_factory=list)
    webhook_events: list[str] = field(default_factory=list)
    can_install: bool = False
    reasons: list[str] = field(default_factory=list)
    installation: Installation | None = None


def consent_for(*, extension: Extension, user: User, organization: Organization | None) -> Consent:
    from apps.accounts.permissions import user_can

    version = extension.latest_version
    consent = Consent(extension=extension, version=version)
    if version is None or version.status != VersionStatus.PUBLISHED:
        consent.reasons.append("This extension has no installable version.")
        return consent
    manifest = version.manifest or {}
    consent.permissions = permissions_of(version)
    missing = (
        set(ungrantable_scopes(actor=user, organization=organization, scopes=consent.permissions["scopes"]))
        if organization
        else set(consent.permissions["scopes"])
    )
    consent.scopes = [
        {"scope": s, "description": PERMISSIONS.get(s, s), "grantable": s not in missing}
        for s in consent.permissions["scopes"]
    ]
    consent.plans = list(
        (manifest.get("pricing") or {}).get("plans") or [{"id": "free", "name": "Free", "model": "free"}]
    )
    consent.config_schema = manifest.get("configSchema")
    props = (consent.config_schema or {}).get("properties") or {}
    consent.secret_fields = sorted(
        n for n, spec in props.items() if isinstance(spec, dict) and spec.get("secret") is True
    )
    consent.webhook_events = list((manifest.get("webhooks") or {}).get("events") or [])
    if organization is None:
        consent.reasons.append("You are not a member of any organization.")
    elif not user_can(user, "extensions.install", organization):
        consent.reasons.append("Your role cannot install extensions.")
    if missing:
        consent.reasons.append(f"You cannot grant permissions you do not hold yourself: {', '.join(sorted(missing))}.")
    if organization is not None:
        consent.installation = (
            Installation.objects.for_organization(organization)
            .filter(extension=extension)
            .exclude(status=InstallationStatus.UNINSTALLED)
            .first()
        )
        if consent.installation is not None:
            consent.reasons.append("The extension is already installed in this organization.")
    consent.can_install = not consent.reasons
    return consent


# -- Usable payloads -----------------------------------------------------------------------------------


def active_payloads(*, organization: Organization, types: tuple[str, ...]) -> list[tuple[Installation, Any]]:
    """(installation, manifest) of the organization's active declarative extensions of these types: what the
    connector framework and the sync engine load to make installed connectors and workflows usable."""
    installations = (
        Installation.objects.for_organization(organization)
        .filter(status=InstallationStatus.ACTIVE, extension__type__in=types)
        .select_related("version", "extension")
    )
    return [(i, i.version.manifest) for i in installations]


# -- Analytics -----------------------------------------------------------------------------------------


def daily_analytics(*, extension: Extension, since: date, until: date) -> list[dict[str, Any]]:
    """Per day and event kind: count (sum of quantities) and amount, ordered by day."""
    rows = (
        AnalyticsEvent.objects.filter(extension=extension, day__gte=since, day__lte=until)
        .values("day", "kind", "currency")
        .annotate(quantity=Coalesce(Sum("quantity"), 0), amount_cents=Coalesce(Sum("amount_cents"), 0))
        .order_by("day", "kind", "currency")
    )
    return [dict(row) for row in rows]


def active_installs_breakdown(*, extension: Extension) -> dict[str, list[dict[str, Any]]]:
    """Active installations now, by version and by region."""
    active = Installation.objects.filter(extension=extension, status=InstallationStatus.ACTIVE)
    by_version = active.values("version__version").annotate(count=Count("id")).order_by("-count", "version__version")
    by_region = active.values("region_code").annotate(count=Count("id")).order_by("-count", "region_code")
    return {
        "by_version": [{"version": r["version__version"], "count": r["count"]} for r in by_version],
        "by_region": [{"region": r["region_code"], "count": r["count"]} for r in by_region],
    }


# -- Website -------------------------------------------------------------------------------------------

HOME_SECTION_SIZE = 6


def home_sections(*, size: int = HOME_SECTION_SIZE) -> dict[str, list[Extension]]:
    """The marketplace front page: featured (certified, from verified publishers, best quality), most
    installed, and newest. Three small queries on the catalog's indexes."""
    from apps.marketplace.models import VerificationState

    featured = search_catalog(CatalogQuery(sort="relevance")).filter(
        is_certified=True, is_deprecated=False, publisher__verification=VerificationState.VERIFIED
    )
    return {
        "featured": list(featured[:size]),
        "popular": list(search_catalog(CatalogQuery(sort="popularity"))[:size]),
        "newest": list(search_catalog(CatalogQuery(sort="newest"))[:size]),
    }


def listed_categories() -> list[dict[str, Any]]:
    """Categories that have listed extensions: slug, name and how many, by name."""
    rows = (
        Extension.objects.listed()
        .filter(category__isnull=False)
        .values("category__slug", "category__name")
        .annotate(count=Count("id"))
        .order_by("category__name")
    )
    return [{"slug": r["category__slug"], "name": r["category__name"], "count": r["count"]} for r in rows]


def installation_usage(*, installation: Installation, since: date) -> dict[str, Any]:
    """What the organization's installation has counted since `since`: usage per day, and totals per kind."""
    events = AnalyticsEvent.objects.filter(
        extension_id=installation.extension_id, organization_id=installation.organization_id, day__gte=since
    )
    per_day = events.filter(kind="usage").values("day").annotate(quantity=Coalesce(Sum("quantity"), 0)).order_by("-day")
    totals = events.values("kind").annotate(quantity=Coalesce(Sum("quantity"), 0)).order_by("kind")
    return {
        "per_day": [dict(row) for row in per_day],
        "totals": {row["kind"]: row["quantity"] for row in totals},
    }
