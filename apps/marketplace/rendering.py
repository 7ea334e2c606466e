"""Publisher-written Markdown (descriptions, changelogs) turned into HTML that is safe to put in our pages."""

from __future__ import annotations

import functools

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

# What Markdown produces for prose, lists, code and tables; anything else (script, style, iframes, forms,
# images that would load third-party content, inline event handlers) is dropped by the sanitizer.
ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre",
    "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}, "th": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


# Descriptions and changelogs of published versions never change, and every catalog card shows one:
# remembering recent renders keeps Markdown parsing off the hot path of list pages.
@functools.lru_cache(maxsize=4096)
def render_markdown(text: str) -> SafeString:
    """Render Markdown to sanitized HTML; raw HTML in the source does not survive the sanitizer.

    Headings 1 and 2 are shifted down to h3 so a publisher's text cannot break the page's heading order.
    """
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"], output_format="html")
    for level in ("1", "2"):
        html = html.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer ugc",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 has just removed every tag and attribute not on the list above
