"""Template filters for publisher-written text."""

from __future__ import annotations

from django import template
from django.utils.html import strip_tags

from apps.marketplace.rendering import render_markdown

register = template.Library()


@register.filter
def markdown_as_text(text: str) -> str:
    """Markdown reduced to its words, for one-line summaries on cards (autoescaped by the template)."""
    return " ".join(strip_tags(render_markdown(text)).split())
