from __future__ import annotations

from apps.marketplace.rendering import render_markdown


def test_markdown_is_rendered_to_html() -> None:
    html = render_markdown("**bold** and `code`\n\n- one\n- two")

    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html


def test_scripts_event_handlers_and_unsafe_links_are_removed() -> None:
    html = render_markdown(
        "<script>steal()</script><img src=x onerror=steal()><a href='javascript:steal()'>x</a>"
        "[y](javascript:steal()) <iframe src='https://evil.invalid'></iframe><style>*{}</style>"
    )

    assert "steal" not in html
    assert "<img" not in html
    assert "<iframe" not in html
    assert "<style" not in html
    assert "javascript:" not in html


def test_links_keep_their_address_and_are_marked_as_untrusted() -> None:
    html = render_markdown("[docs](https://acme.io/docs)")

    assert 'href="https://acme.io/docs"' in html
    assert "nofollow" in html


def test_top_level_headings_are_demoted_to_keep_the_page_outline() -> None:
    html = render_markdown("# Title\n\n## Section")

    assert "<h1>" not in html
    assert "<h2>" not in html
    assert html.count("<h3>") == 2


def test_empty_text_renders_nothing() -> None:
    assert render_markdown("") == ""
