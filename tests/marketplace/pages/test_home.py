from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from apps.marketplace.models import Extension
from tests.marketplace.pages.conftest import INVALID, build_catalog


def test_the_home_page_shows_featured_popular_new_and_categories(client: Client, catalog: list[Extension]) -> None:
    # given a catalog of nine extensions in three categories

    # when a visitor opens the marketplace
    response = client.get(reverse("marketplace:home"))

    # then the four sections are there, each extension links to its page, and categories have counts
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    for heading in ("Featured", "Most installed", "New", "Categories"):
        assert f">{heading}</h2>" in body
    shown = [e for e in catalog if reverse("marketplace:extension", args=[e.slug]) in body]
    assert len(shown) >= 6
    assert "?category=ticketing" in body


def test_the_home_page_of_an_empty_catalog_says_so(client: Client, db: None) -> None:
    # given no published extension

    # when a visitor opens the marketplace
    response = client.get(reverse("marketplace:home"))

    # then it explains the catalog is empty
    assert response.status_code == 200
    assert "The catalog is empty" in response.content.decode()


def test_a_delisted_extension_is_not_on_the_home_page(client: Client, catalog: list[Extension]) -> None:
    # given an extension an operator delisted
    Extension.objects.filter(pk=catalog[0].pk).update(is_delisted=True)

    # when a visitor opens the marketplace
    body = client.get(reverse("marketplace:home")).content.decode()

    # then it is nowhere on the page, while the others are
    assert reverse("marketplace:extension", args=[catalog[0].slug]) not in body
    assert any(reverse("marketplace:extension", args=[e.slug]) in body for e in catalog[1:])


def test_the_home_page_queries_do_not_grow_with_the_catalog(
    client: Client, db: None, django_assert_max_num_queries: Any
) -> None:
    # given a catalog bigger than every section
    build_catalog(15)

    # when a visitor opens the marketplace, then a handful of queries serve it
    with django_assert_max_num_queries(6):
        response = client.get(reverse("marketplace:home"))
    assert response.content.decode().count('class="ext-card"') == 18
