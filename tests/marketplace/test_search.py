"""Catalog search: PostgreSQL full-text with facets and a blended ranking; simple matching elsewhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.marketplace.models import Extension, VerificationState
from apps.marketplace.selectors import CatalogQuery, search_catalog, simple_matching
from apps.marketplace.services.catalog import refresh_extension_listing
from tests.factories.marketplace import PublisherFactory, publish_extension

pytestmark = pytest.mark.django_db


def make(
    slug: str,
    name: str,
    *,
    description: str = "A helpful extension for teams.",
    tags=(),
    installs=0,
    ratings=(0, 0),
    deprecated=False,
    verified=True,
    **manifest,
) -> Extension:
    publisher = PublisherFactory(verification=VerificationState.VERIFIED if verified else VerificationState.UNVERIFIED)
    extension = publish_extension(
        publisher=publisher, slug=slug, name=name, description=description, tags=list(tags), **manifest
    )
    Extension.objects.filter(pk=extension.pk).update(
        active_installs=installs, rating_sum=ratings[0], rating_count=ratings[1], is_deprecated=deprecated
    )
    return refresh_extension_listing(extension=extension)


def slugs(query: CatalogQuery) -> list[str]:
    return [e.slug for e in search_catalog(query)]


def test_search_matches_the_name_tags_and_description_and_nothing_else(db):
    make("a.jira-sync", "Jira Sync")
    make("b.tracker", "Tracker", tags=["jira"])
    make("c.bridge", "Bridge", description="Moves issues from Jira to ServiceNow.")
    make("d.slack", "Slack Alerts")

    found = set(slugs(CatalogQuery(text="jira")))

    assert found == {"a.jira-sync", "b.tracker", "c.bridge"}


def test_the_simple_matching_fallback_ranks_name_matches_first(db):
    make("a.bridge", "Bridge", description="Moves issues from Jira to ServiceNow.", installs=50_000, ratings=(500, 100))
    make("b.jira", "Jira Sync")

    ranked = simple_matching(Extension.objects.listed(), "jira").order_by("-relevance")

    assert [e.slug for e in ranked] == ["b.jira", "a.bridge"]


def test_the_simple_matching_fallback_needs_every_word(db):
    make("a.jira-sync", "Jira Sync")
    make("b.jira-export", "Jira Export")

    assert [e.slug for e in simple_matching(Extension.objects.listed(), "jira SYNC")] == ["a.jira-sync"]


def test_sorts_by_popularity_rating_and_newest(db):
    old = make("a.old", "Old", installs=900, ratings=(20, 10))
    Extension.objects.filter(pk=old.pk).update(published_at=timezone.now() - timedelta(days=400))
    make("b.loved", "Loved", installs=10, ratings=(490, 100))
    make("c.new", "New", installs=100)

    assert slugs(CatalogQuery(sort="popularity")) == ["a.old", "c.new", "b.loved"]
    assert slugs(CatalogQuery(sort="rating")) == ["b.loved", "c.new", "a.old"]
    assert slugs(CatalogQuery(sort="newest"))[-1] == "a.old"


def test_unlisted_and_delisted_extensions_are_not_in_the_catalog(db):
    make("a.visible", "Visible")
    hidden = make("b.hidden", "Hidden")
    Extension.objects.filter(pk=hidden.pk).update(is_delisted=True)

    assert slugs(CatalogQuery()) == ["a.visible"]


def test_the_catalog_endpoint_is_public_and_its_queries_do_not_grow_with_the_page(
    api_client, django_assert_max_num_queries
):
    for n in range(3):
        make(f"p{n}.ext", f"Extension {n}")
    with django_assert_max_num_queries(8) as few:
        api_client.get(reverse("api:extension-list"))
    for n in range(3, 15):
        make(f"p{n}.ext", f"Extension {n}")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api_client.get(reverse("api:extension-list"))

    assert response.status_code == 200
    assert response.json()["count"] == 15


def test_the_catalog_refuses_an_unknown_sort(api_client, db):
    response = api_client.get(reverse("api:extension-list"), {"sort": "random"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "sort"


def test_an_extension_page_shows_what_the_manifest_declares(api_client, db):
    make("a.jira-sync", "Jira Sync", tags=["jira"])

    body = api_client.get(reverse("api:extension-detail", kwargs={"slug": "a.jira-sync"})).json()

    assert body["id"] == "a.jira-sync"
    assert body["permissions"]["egress"] == ["api.acme.io"]
    assert body["links"]["privacy"] == "https://acme.io/privacy"
    assert body["version"]["version"] == "1.0.0"
    assert body["certified"] is True


# -- PostgreSQL: full-text ranking and facets -----------------------------------------------------------


@pytest.mark.postgres
def test_a_name_match_outranks_a_tag_match_which_outranks_a_description_match(db):
    make("a.desc", "Bridge", description="Moves issues from Jira to ServiceNow and back again.")
    make("b.tag", "Tracker", tags=["jira"])
    make("c.name", "Jira Sync")

    assert slugs(CatalogQuery(text="jira")) == ["c.name", "b.tag", "a.desc"]


@pytest.mark.postgres
def test_rating_and_installs_break_ties_and_deprecated_or_unverified_sink(db):
    make("a.plain", "Jira Connector")
    make("b.popular", "Jira Connector Pro", installs=20_000, ratings=(460, 100))
    make("c.deprecated", "Jira Connector Old", installs=20_000, ratings=(460, 100), deprecated=True)
    make("d.unverified", "Jira Connector Plus", installs=20_000, ratings=(460, 100), verified=False)

    ranked = slugs(CatalogQuery(text="jira connector"))

    assert ranked[0] == "b.popular"
    assert ranked.index("d.unverified") < ranked.index("c.deprecated")
    assert ranked.index("a.plain") > ranked.index("b.popular")


@pytest.mark.postgres
def test_the_bayesian_rating_distrusts_a_few_perfect_votes(db):
    make("a.one-vote", "Jira One", ratings=(5, 1))
    make("b.many-votes", "Jira Many", ratings=(460, 100))

    assert slugs(CatalogQuery(text="jira", sort="rating")) == ["b.many-votes", "a.one-vote"]


@pytest.mark.postgres
def test_facets_count_each_value_with_the_other_filters_applied(api_client, db):
    paid = {"plans": [{"id": "pro", "name": "Pro", "model": "one_time", "amount": 500, "currency": "usd"}]}
    make("a.c1", "Jira One", support={"level": "enterprise"})
    make("b.c2", "Jira Two", pricing=paid)
    make("c.w1", "Jira Flow", type="workflow", entryPoint="connector.json")
    make("d.other", "Slack Thing")

    response = api_client.get(reverse("api:extension-list"), {"q": "jira", "type": "connector"})

    body = response.json()
    assert sorted(e["id"] for e in body["results"]) == ["a.c1", "b.c2"]
    facets = body["facets"]
    # the type facet ignores the type filter, so the alternatives stay visible
    assert facets["type"] == [{"value": "connector", "count": 2}, {"value": "workflow", "count": 1}]
    assert facets["pricing"] == [{"value": "free", "count": 1}, {"value": "one_time", "count": 1}]
    assert facets["support_level"] == [{"value": "enterprise", "count": 1}, {"value": "professional", "count": 1}]
    assert facets["certified"] == [{"value": True, "count": 2}]
    assert facets["category"] == [{"value": "ticketing", "count": 2}]


@pytest.mark.postgres
def test_filters_narrow_the_results(api_client, db):
    make("a.cert", "Jira One")
    make("b.uncert", "Jira Two", certified=False)

    response = api_client.get(reverse("api:extension-list"), {"q": "jira", "certified": "false"})

    assert [e["id"] for e in response.json()["results"]] == ["b.uncert"]
