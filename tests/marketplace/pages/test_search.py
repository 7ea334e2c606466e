from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.marketplace.models import Extension
from tests.factories.marketplace import publish_extension
from tests.marketplace.pages.conftest import INVALID, build_catalog

SEARCH = "/marketplace/search/"


def test_without_parameters_it_lists_the_whole_catalog(client: Client, catalog: list[Extension]) -> None:
    # given nine listed extensions

    # when a visitor opens the search page
    response = client.get(reverse("marketplace:search"))

    # then all of them are listed with the filter form
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    assert "9 extensions" in body
    assert 'name="type"' in body
    assert 'name="pricing"' in body
    assert 'name="certified"' in body


def test_filters_narrow_the_results(client: Client, catalog: list[Extension]) -> None:
    # given extensions in three categories

    # when the visitor picks one category
    response = client.get(SEARCH, {"category": "crm", "sort": "newest"})

    # then only that category's extensions are listed
    body = response.content.decode()
    assert "3 extensions" in body
    crm = [e for e in catalog if e.category and e.category.slug == "crm"]
    others = [e for e in catalog if e not in crm]
    assert all(reverse("marketplace:extension", args=[e.slug]) in body for e in crm)
    assert not any(reverse("marketplace:extension", args=[e.slug]) in body for e in others)


def test_text_search_finds_by_name(client: Client, catalog: list[Extension]) -> None:
    # given an extension with a distinctive name
    publish_extension(slug="zeta.pager-bridge", name="Pager Bridge", description="Pages the on-call engineer.")

    # when a visitor searches for it
    body = client.get(SEARCH, {"q": "pager"}).content.decode()

    # then it is found and the others are not
    assert "Pager Bridge" in body
    assert "1 extension" in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "spaceship"}, "Type: Select a valid choice"),
        ({"pricing": "cheap"}, "Pricing: Select a valid choice"),
        ({"category": "no-such-category"}, "Category: Select a valid choice"),
        ({"certified": "maybe"}, "Certification: Select a valid choice"),
        ({"sort": "random"}, "Sort by: Select a valid choice"),
        ({"support_level": "<script>"}, "Support: Select a valid choice"),
        ({"page": "-3"}, "Ensure this value is greater than or equal to 1"),
        ({"page": "two"}, "Enter a whole number"),
        ({"q": "x" * 201}, "Search extensions: Ensure this value has at most 200 characters"),
    ],
)
def test_a_bad_filter_value_is_explained_not_a_server_error(
    client: Client, catalog: list[Extension], params: dict[str, str], message: str
) -> None:
    # given a hand-edited URL with a bad value

    # when the visitor opens it
    response = client.get(SEARCH, params)

    # then they are told what is wrong (400), and nothing is searched
    body = response.content.decode()
    assert response.status_code == 400
    assert "Some filters are not valid" in body
    assert message in body
    assert "<script>" not in body


def test_htmx_asks_for_the_results_only(client: Client, catalog: list[Extension]) -> None:
    # given the search page loaded

    # when htmx sends the filter form
    response = client.get(SEARCH, {"type": "connector"}, headers={"HX-Request": "true"})

    # then only the results fragment comes back, and caches keep it apart from the full page
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "9 extensions" in body
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_gets_the_error_state_with_a_status_it_will_swap(client: Client, catalog: list[Extension]) -> None:
    # when htmx sends a bad value
    response = client.get(SEARCH, {"type": "spaceship"}, headers={"HX-Request": "true"})

    # then the fragment says what is wrong (htmx ignores 4xx answers, so it comes with 200)
    assert response.status_code == 200
    assert "Some filters are not valid" in response.content.decode()


def test_no_match_shows_the_empty_state(client: Client, catalog: list[Extension]) -> None:
    # when nothing matches
    body = client.get(SEARCH, {"q": "nothing-is-called-this"}).content.decode()

    # then the empty state offers the whole catalog
    assert "No extension matches" in body


def test_results_are_paged_and_the_links_keep_the_filters(client: Client, db: None) -> None:
    # given more extensions than a page holds
    build_catalog(26)

    # when the visitor filters by type
    body = client.get(SEARCH, {"type": "connector"}).content.decode()

    # then the next page keeps the filter
    assert "page 1 of 2" in body
    assert "?type=connector&amp;page=2" in body
    second = client.get(SEARCH, {"type": "connector", "page": "2"}).content.decode()
    assert "page 2 of 2" in second


def test_search_queries_do_not_grow_with_the_results(
    client: Client, db: None, django_assert_max_num_queries: Any
) -> None:
    # given a full page of results
    build_catalog(26)

    # when a visitor searches, then a fixed handful of queries serve the page
    with django_assert_max_num_queries(7):
        response = client.get(SEARCH, {"q": "records", "sort": "popularity"})
    assert "26 extensions, page 1 of 2" in response.content.decode()


def test_the_results_offer_to_narrow_by_facets_not_chosen_yet(client: Client, catalog: list[Extension]) -> None:
    # given extensions in three categories, all connectors

    # when the visitor searches without choosing a category
    body = client.get(SEARCH, {"q": "records", "sort": "newest"}).content.decode()

    # then each category is offered with its count, as a link that keeps the query
    assert "Category:" in body
    assert "?q=records&amp;sort=newest&amp;category=crm" in body
    assert "(3)" in body

    # and once a category is chosen it is no longer offered
    chosen = client.get(SEARCH, {"q": "records", "category": "crm"}).content.decode()
    assert "Category:" not in chosen
