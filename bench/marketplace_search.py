"""Catalog search at 100,000 extensions on PostgreSQL: latency p50/p95 of the search page and of the whole
list endpoint (results, count and facets), against a baseline of naive substring matching measured in the same
run; and the list endpoint's queries per request at two page sizes (they must be equal).

Runs on a throwaway database created next to DATABASE_URL's and dropped afterwards:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nofx_dev python bench/marketplace_search.py [--extensions N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from throwaway_database import admin_connection, database_urls, median_and_p95  # noqa: E402 - after the path is set

TARGET_P95_MS = 50.0
WORDS = (
    "jira servicenow salesforce slack teams github gitlab azure devops ticket incident change request sync "
    "bridge export import alert notify report dashboard insight analytics forecast pipeline deploy release "
    "issue bug story sprint backlog board crm lead deal account contact invoice billing payment refund order "
    "customer support chat message channel thread review approval workflow automation schedule backup audit "
    "compliance security identity access token secret vault policy risk control evidence monitor metric log "
    "trace latency uptime health status cloud data warehouse lake stream event queue webhook api gateway "
    "connector agent template mapping transform filter enrich dedupe merge archive search index catalog "
    "knowledge article asset inventory license contract vendor procurement expense travel hr onboarding "
    "payroll calendar meeting email survey feedback nps churn retention growth marketing campaign social"
).split()
TYPES = ("connector", "workflow", "template", "agent", "analytics")
PRICING = ("free", "free", "free", "one_time", "subscription", "usage")
SUPPORT = ("community", "community", "professional", "enterprise")


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    """Made-up words for descriptions, so each one is rare, as most words in real catalogs are."""
    syllables = ["ka", "lo", "mi", "ter", "san", "vo", "ril", "do", "ne", "pax", "qu", "zen", "bri", "tol", "ume"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(words)


def _seed(count: int, rng: random.Random, rare_words: list[str]) -> None:
    """Rows go in with COPY (bulk_create would take minutes at this size)."""
    import datetime
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    from apps.accounts.models import Organization
    from apps.marketplace.models import Category, Extension, Publisher, VerificationState
    from apps.marketplace.services.catalog import quality_parts, search_vector_expression

    now = timezone.now()
    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Publisher org {i}", slug=f"bench-org-{i}", home_region_code="us-east") for i in range(500)]
    )
    publishers = Publisher.objects.bulk_create(
        [
            Publisher(
                organization=org,
                slug=f"pub{i}",
                name=f"Publisher {i}",
                verification=VerificationState.VERIFIED if i % 4 else VerificationState.UNVERIFIED,
            )
            for i, org in enumerate(orgs)
        ]
    )
    categories = Category.objects.bulk_create([Category(slug=f"cat-{i}", name=f"Category {i}") for i in range(24)])
    extension_columns = (
        "id, created_at, updated_at, publisher_id, slug, type, name, summary, category_id, tags, tags_text, pricing, "
        "support_level, is_certified, is_deprecated, is_delisted, latest_version_id, published_at, active_installs, "
        "total_installs, downloads, rating_count, rating_sum, bayesian_rating, quality_score, ranking_penalty"
    )
    version_columns = (
        "id, created_at, updated_at, extension_id, version, version_major, version_minor, version_patch, "
        "is_prerelease, status, manifest, permissions, package, package_size, sha256, signature, signing_key_id, "
        "findings, steps, status_reason, ruleset_fingerprint, auto_publish, changelog, published_at, downloads, channel"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        # Both foreign keys are deferred to the commit, so the two tables can go in one after the other.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        ext_ids = [uuid.uuid4() for _ in range(count)]
        version_ids = [uuid.uuid4() for _ in range(count)]
        with raw.copy(f"COPY extension_versions ({version_columns}) FROM STDIN") as versions_copy:
            for i in range(count):
                versions_copy.write_row(
                    (
                        version_ids[i],
                        now,
                        now,
                        ext_ids[i],
                        "1.0.0",
                        1,
                        0,
                        0,
                        False,
                        "published",
                        "{}",
                        "{}",
                        "",
                        0,
                        "0" * 64,
                        "",
                        "",
                        "[]",
                        "{}",
                        "",
                        "",
                        True,
                        "",
                        now,
                        0,
                        "",
                    )
                )
        with raw.copy(f"COPY marketplace_extensions ({extension_columns}) FROM STDIN") as extensions_copy:
            for i in range(count):
                publisher = publishers[i % len(publishers)]
                name = " ".join(rng.sample(WORDS, rng.randint(2, 3))).title()
                tags = rng.sample(WORDS, rng.randint(2, 4))
                summary = " ".join(rng.choices(rare_words, k=12) + rng.sample(WORDS, 2)).capitalize() + "."
                installs = int(rng.paretovariate(1.2)) - 1
                ratings = rng.randint(0, 200)
                rating_sum = sum(rng.randint(1, 5) for _ in range(ratings))
                published = now - datetime.timedelta(days=rng.randint(0, 900))
                deprecated = rng.random() < 0.03
                bayes, quality, penalty = quality_parts(
                    rating_sum=rating_sum,
                    rating_count=ratings,
                    active_installs=installs,
                    published_at=published,
                    deprecated=deprecated,
                    verified=publisher.is_verified,
                    now=now,
                )
                extensions_copy.write_row(
                    (
                        ext_ids[i],
                        now,
                        now,
                        publisher.pk,
                        f"{publisher.slug}.ext-{i}",
                        rng.choice(TYPES),
                        name,
                        summary,
                        rng.choice(categories).pk,
                        json.dumps(tags),
                        " ".join(tags),
                        rng.choice(PRICING),
                        rng.choice(SUPPORT),
                        rng.random() < 0.6,
                        deprecated,
                        False,
                        version_ids[i],
                        published,
                        installs,
                        installs,
                        0,
                        ratings,
                        rating_sum,
                        bayes,
                        quality,
                        penalty,
                    )
                )
    Extension.objects.update(search_vector=search_vector_expression())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE marketplace_extensions")
        cursor.execute("VACUUM ANALYZE extension_versions")


def _timed(fn: Any, queries: list[dict[str, Any]]) -> list[float]:
    for query in queries[:10]:
        fn(query)  # warm caches and plans
    samples = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()

    source_url, bench_url, name = database_urls()
    with admin_connection(source_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        os.environ["DATABASE_URL"] = bench_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.test")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from apps.marketplace.models import Extension
        from apps.marketplace.selectors import CatalogQuery, catalog_page, simple_matching

        call_command("migrate", verbosity=0, interactive=False)
        rng = random.Random(7)
        rare_words = _vocabulary(rng, 3000)
        started = time.perf_counter()
        _seed(args.extensions, rng, rare_words)
        print(f"seeded {Extension.objects.count()} extensions in {time.perf_counter() - started:.1f} s")

        queries: list[dict[str, Any]] = []
        for _ in range(args.searches):
            # Half the searches use the catalog's common words (in names and tags), half rarer description words.
            pool = WORDS if rng.random() < 0.5 else rare_words
            query: dict[str, Any] = {"q": " ".join(rng.sample(pool, rng.choice((1, 1, 2))))}
            if rng.random() < 0.4:
                query["type"] = rng.choice(TYPES)
            if rng.random() < 0.2:
                query["pricing"] = "free"
            query["sort"] = rng.choice(("relevance", "relevance", "popularity", "rating", "newest"))
            queries.append(query)

        def search_page(query: dict[str, Any]) -> None:
            catalog = CatalogQuery(
                text=query["q"], type=query.get("type", ""), pricing=query.get("pricing", ""), sort=query["sort"]
            )
            catalog_page(catalog, offset=0, limit=24)

        def naive_page(query: dict[str, Any]) -> None:
            listed = Extension.objects.listed()
            if query.get("type"):
                listed = listed.filter(type=query["type"])
            matched = simple_matching(listed, query["q"]).order_by("-relevance")
            list(matched[:24])
            matched.count()

        client = Client()

        def endpoint(query: dict[str, Any]) -> None:
            response = client.get("/api/v1/extensions/", query)
            assert response.status_code == 200, response.content

        figures = {
            "search page (24 results + count)": _timed(search_page, queries),
            "list endpoint (results, count, 5 facets)": _timed(endpoint, queries),
            "baseline: substring matching page": _timed(naive_page, queries[:60]),
        }
        print(f"\ncatalog search at {args.extensions} extensions, {len(queries)} searches (PostgreSQL)")
        for label, samples in figures.items():
            p50, p95 = median_and_p95(samples)
            print(f"  {label:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        _, search_p95 = median_and_p95(figures["search page (24 results + count)"])
        verdict = "OK" if search_p95 <= TARGET_P95_MS else "OVER TARGET"
        print(f"  target: search page p95 <= {TARGET_P95_MS:.0f} ms -> {verdict}")

        counts = []
        for limit in (5, 24, 100):
            with CaptureQueriesContext(connection) as captured:
                client.get("/api/v1/extensions/", {"q": "sync", "limit": limit})
            counts.append(len(captured.captured_queries))
        print(
            f"\nlist endpoint queries per request at page sizes 5/24/100: {'/'.join(map(str, counts))}"
            f" -> {'constant' if len(set(counts)) == 1 else 'NOT constant'}"
        )
        connection.close()
        return 0 if len(set(counts)) == 1 else 1
    finally:
        with admin_connection(source_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
