"""The public developer docs: navigation, the generated manifest reference, sanitizing and search."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.developers import documentation
from nofx_sdk.manifest import load_json_schema

pytestmark = pytest.mark.django_db


def test_the_docs_index_is_public_and_lists_every_page(client, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(5):
        response = client.get(reverse("developers:docs"))
    # then
    assert response.status_code == 200
    for slug in ("getting-started", "manifest-reference", "api-reference", "webhooks", "marketplace"):
        assert reverse("developers:doc", args=[slug]).encode() in response.content


def test_any_markdown_file_in_the_folder_becomes_a_page_titled_by_its_first_heading(tmp_path):
    # given
    (tmp_path / "b-second.md").write_text("<!-- order: 2 -->\n# Second\n\ntext")
    (tmp_path / "a-first.md").write_text("<!-- order: 1 -->\n# First page\n")
    (tmp_path / "unordered.md").write_text("intro\n\n# Zed comes last\n")
    # when
    pages = documentation.list_pages(tmp_path)
    # then
    assert [(p.slug, p.title) for p in pages] == [
        ("a-first", "First page"),
        ("b-second", "Second"),
        ("unordered", "Zed comes last"),
    ]


def test_the_index_shows_each_pages_first_paragraph_as_plain_text(tmp_path):
    # given
    (tmp_path / "page.md").write_text("<!-- order: 1 -->\n# Page\n\nRead the [`manifest`](x) *first*.\n\nMore.")
    # when
    pages = documentation.list_pages(tmp_path)
    # then
    assert pages[0].summary == "Read the manifest first."


def test_a_page_has_anchored_headings_and_previous_and_next_links(client, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(5):
        response = client.get(reverse("developers:doc", args=["manifest-reference"]))
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert 'rel="prev"' in body
    assert 'rel="next"' in body
    assert 'class="headerlink"' in body
    assert 'aria-current="page"' in body


def test_the_manifest_reference_is_generated_from_the_schema(client):
    # given
    schema = load_json_schema()
    # when
    body = client.get(reverse("developers:doc", args=["manifest-reference"])).content.decode()
    # then every object has a table and every top-level field a row
    assert 'id="schema-manifest"' in body
    for name in ("Permissions", "App", "PricingPlan"):
        assert f'id="schema-{name.lower()}"' in body
    for field in schema["properties"]:
        assert f"<code>{field}</code>" in body
    # enum values are listed and object types link to their table
    assert "<code>subscription</code>" in body
    assert 'href="#schema-permissions"' in body


def test_an_unknown_page_is_not_found(client):
    assert client.get(reverse("developers:doc", args=["no-such-page"])).status_code == 404


def test_markdown_is_sanitized():
    # given
    text = (
        "# Title\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n"
        '<img src="x" onerror="alert(3)">\n\n<a href="https://ok.example" onclick="x()">ok</a>'
    )
    # when
    html, _ = documentation.render_markdown(text)
    # then
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html
    assert "onclick" not in html
    assert 'href="https://ok.example"' in html


def test_search_finds_words_across_pages_and_marks_them(client, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(5):
        response = client.get(reverse("developers:docs_search"), {"q": "Nofx-Signature"})
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert reverse("developers:doc", args=["webhooks"]) in body
    assert "<mark>Nofx-Signature</mark>" in body


def test_search_finds_fields_of_the_generated_reference():
    # when
    hits = documentation.search_docs("registrationUrl")
    # then
    assert "manifest-reference" in [hit.page.slug for hit in hits]


def test_search_escapes_the_query_and_snippets(client):
    # when
    response = client.get(reverse("developers:docs_search"), {"q": "<script>alert(1)</script>"})
    # then
    assert b"<script>alert(1)</script>" not in response.content
    assert response.status_code == 200


def test_a_snippet_escapes_markup_found_in_the_page(tmp_path):
    # given
    (tmp_path / "page.md").write_text("# Page\n\nA <b onclick=x>bold</b> claim about tokens.")
    # when
    hits = documentation.search_docs("tokens", tmp_path)
    # then
    assert "<b onclick" not in hits[0].snippet_html
    assert "<mark>tokens</mark>" in hits[0].snippet_html


def test_an_empty_search_finds_nothing_and_says_what_to_do(client):
    # when
    response = client.get(reverse("developers:docs_search"), {"q": "   "})
    # then
    assert response.status_code == 200
    assert b"Type a word or two above." in response.content
