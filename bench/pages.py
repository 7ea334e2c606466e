"""Render times of the marketplace website's pages at demo scale, through Django's test client.

Seeds a throwaway PostgreSQL database (created next to DATABASE_URL's, dropped afterwards) with a catalog of
published extensions (the test factories, so versions have real packages), reviews, and an organization with
installations; then asks each page in PAGES many times and prints p50/p95 and queries per request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nofx_dev python bench/pages.py [--extensions N] [--requests N]

To measure another page, add a `Page` to PAGES: its URL is built from the seeded `Demo`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from throwaway_database import admin_connection, database_urls, median_and_p95  # noqa: E402 - after the path is set

TARGET_P95_MS = 100.0


@dataclass
class Demo:
    """What the seeding made, for building page URLs."""

    extension_slug: str
    installation_id: str
    admin: Any
    # A developer of the featured extension's publisher, and that extension's latest version.
    developer: Any
    version_id: str


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[Demo], str]
    signed_in: bool = False
    # Signed in as the publisher's developer (the developer portal) rather than as the customer's admin.
    as_publisher: bool = False


PAGES = [
    Page("home", lambda demo: "/marketplace/"),
    Page("search (text + filter)", lambda demo: "/marketplace/search/?q=sync&type=connector&sort=popularity"),
    Page("search (htmx results)", lambda demo: "/marketplace/search/?q=records&sort=rating"),
    Page("extension page", lambda demo: f"/marketplace/extensions/{demo.extension_slug}/"),
    Page("extension page (signed in)", lambda demo: f"/marketplace/extensions/{demo.extension_slug}/", True),
    Page("install (consent) page", lambda demo: f"/marketplace/extensions/{demo.extension_slug}/install/", True),
    Page("installed list", lambda demo: "/marketplace/installed/", True),
    Page("installation page", lambda demo: f"/marketplace/installed/{demo.installation_id}/", True),
    Page("portal overview", lambda demo: "/developers/", as_publisher=True),
    Page("portal extension", lambda demo: f"/developers/extensions/{demo.extension_slug}/", as_publisher=True),
    Page("portal version", lambda demo: f"/developers/versions/{demo.version_id}/", as_publisher=True),
    Page("portal analytics", lambda demo: "/developers/analytics/", as_publisher=True),
    Page("portal credentials", lambda demo: "/developers/credentials/", as_publisher=True),
    Page("portal support", lambda demo: "/developers/support/", as_publisher=True),
    Page("portal payouts", lambda demo: "/developers/payouts/", as_publisher=True),
    Page("docs page", lambda demo: "/developers/docs/manifest-reference/"),
    Page("docs search", lambda demo: "/developers/docs/search/?q=webhook"),
]
HTMX_PAGES = {"search (htmx results)"}


def _seed(extensions: int) -> Demo:
    """A catalog of `extensions` listed extensions in 12 categories from 20 publishers; the first one has 40
    reviews and 8 versions; an organization with an admin has 25 installations with reported usage."""
    import random

    from django.utils import timezone

    from apps.accounts.roles import Role
    from apps.marketplace.models import AnalyticsEvent, Review
    from apps.marketplace.services.catalog import refresh_catalog_rankings
    from tests.factories.accounts import MembershipFactory, OrganizationFactory
    from tests.factories.marketplace import (
        PublisherFactory,
        add_published_version,
        make_installation,
        manifest,
        publish_extension,
    )

    rng = random.Random(7)
    words = "sync tickets records incidents accounts alerts invoices deals releases builds".split()
    publishers = [PublisherFactory() for _ in range(20)]
    catalog = []
    for i in range(extensions):
        publisher = publishers[i % len(publishers)]
        catalog.append(
            publish_extension(
                publisher=publisher,
                slug=f"{publisher.slug}.ext-{i}",
                name=f"{rng.choice(words).title()} {rng.choice(words).title()} {i}",
                type=rng.choice(("connector", "workflow", "template")),
                category=f"category-{i % 12}",
                tags=rng.sample(words, 3),
                description=f"Keeps **{rng.choice(words)}** and {rng.choice(words)} in sync. Number {i}.",
            )
        )
    featured = catalog[0]
    for minor in range(1, 8):
        add_published_version(
            extension=featured,
            manifest_data=manifest(id=featured.slug, version=f"1.{minor}.0", changelog=f"- Change {minor}"),
        )
    featured.refresh_from_db()
    for n in range(40):
        Review.objects.create(
            organization=OrganizationFactory(),
            extension=featured,
            version=featured.latest_version,
            rating=rng.randint(1, 5),
            title=f"Review {n}",
            body="Works as described. " * 5,
        )
    organization = OrganizationFactory()
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    today = timezone.localdate()
    installations = []
    for extension in catalog[1:26]:
        installation = make_installation(organization=organization, extension=extension, plan="free")
        installations.append(installation)
        AnalyticsEvent.objects.bulk_create(
            AnalyticsEvent(
                extension=extension,
                organization=organization,
                kind="usage",
                day=today - timezone.timedelta(days=d),
                quantity=rng.randint(1, 50),
            )
            for d in range(30)
        )
    refresh_catalog_rankings()
    developer = MembershipFactory(organization=featured.publisher.organization, role=Role.DEVELOPER).user
    return Demo(
        extension_slug=featured.slug,
        installation_id=str(installations[0].pk),
        admin=admin,
        developer=developer,
        version_id=str(featured.latest_version_id),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=300)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    source_url, bench_url, name = database_urls()
    with admin_connection(source_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    media = tempfile.TemporaryDirectory(prefix="nofx-bench-media-")
    try:
        os.environ["DATABASE_URL"] = bench_url
        os.environ["MEDIA_ROOT"] = media.name
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.test")
        # The seeding publishes through eager tasks; their log lines would bury the figures.
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        # No setup_test_environment(): its template instrumentation copies every context and would be measured.
        call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        demo = _seed(args.extensions)
        print(f"seeded {args.extensions} extensions in {time.perf_counter() - started:.1f} s")

        anonymous, signed_in, publisher = Client(), Client(), Client()
        signed_in.force_login(demo.admin)
        publisher.force_login(demo.developer)
        print(
            f"\nmarketplace and developer portal pages, {args.requests} requests each (PostgreSQL, Django test client)"
        )
        over = []
        for page in PAGES:
            client = publisher if page.as_publisher else signed_in if page.signed_in else anonymous
            url = page.url(demo)
            headers = {"HX-Request": "true"} if page.name in HTMX_PAGES else {}
            for _ in range(5):
                client.get(url, headers=headers)  # warm caches, templates and plans
            samples = []
            for _ in range(args.requests):
                begun = time.perf_counter()
                response = client.get(url, headers=headers)
                samples.append((time.perf_counter() - begun) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            with CaptureQueriesContext(connection) as captured:
                client.get(url, headers=headers)
            p50, p95 = median_and_p95(samples)
            if p95 > TARGET_P95_MS:
                over.append(page.name)
            print(f"  {page.name:<30} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {len(captured):3d} queries")
        print(
            f"  target: every page p95 <= {TARGET_P95_MS:.0f} ms -> {'OK' if not over else 'OVER: ' + ', '.join(over)}"
        )
        connection.close()
        return 0 if not over else 1
    finally:
        media.cleanup()
        with admin_connection(source_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
