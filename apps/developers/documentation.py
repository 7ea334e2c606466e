"""The developer docs: Markdown files in docs/developers/ rendered into sanitized, navigable, searchable pages.

Any `.md` file in the folder is a page: its slug is the file name, its title the first `# ` heading. An
optional `<!-- order: N -->` comment sorts it (lower first; pages without one follow, by title). The
manifest reference page carries a `<!-- manifest-schema -->` marker that is replaced, at render time, by
tables generated from the manifest's JSON Schema, so the reference can never drift from the validator.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown
import nh3
from django.conf import settings
from django.utils.html import escape

from nofx_sdk.manifest import load_json_schema

DOCS_DIR = Path(settings.BASE_DIR) / "docs" / "developers"
SCHEMA_MARKER = "<!-- manifest-schema -->"
_ORDER = re.compile(r"<!--\s*order:\s*(\d+)\s*-->")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_UNORDERED = 10_000
_COMMENT = re.compile(r"<!--.*?-->", re.S)

# What Markdown may produce after sanitizing: nh3's safe defaults plus ids on headings (anchors) and the
# classes the code and permalink markup use. Script, style, event handlers and javascript: URLs never pass.
_ATTRIBUTES: dict[str, set[str]] = {
    **{f"h{n}": {"id"} for n in range(1, 7)},
    "a": {"href", "title", "class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"scope", "align"},
    "td": {"align"},
    "table": {"class"},
    "span": {"class"},
    "div": {"class"},
    "caption": {"class"},
}


@dataclass(frozen=True)
class DocPage:
    slug: str
    title: str
    order: int
    path: Path
    summary: str = ""


@dataclass
class RenderedPage:
    page: DocPage
    html: str
    headings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchHit:
    page: DocPage
    snippet_html: str
    score: int


def _title_of(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _summary_of(text: str) -> str:
    """The first paragraph of prose, as plain text, for the docs index."""
    for block in re.split(r"\n\s*\n", _COMMENT.sub("", text)):
        block = block.strip()
        if block and not block.startswith(("#", "|", "```", "-", "<")):
            plain = re.sub(r"[`*_\[\]]", "", re.sub(r"\]\([^)]*\)", "]", " ".join(block.split())))
            return plain if len(plain) <= 200 else plain[:199].rsplit(" ", 1)[0] + "…"
    return ""


def list_pages(directory: Path | None = None) -> list[DocPage]:
    """Every page in the docs folder, in reading order."""
    directory = directory or DOCS_DIR
    pages = []
    for path in directory.glob("*.md"):
        slug = path.stem
        if not _SLUG.match(slug):
            continue
        text = path.read_text(encoding="utf-8")
        match = _ORDER.search(text)
        title = _title_of(text, slug.replace("-", " ").capitalize())
        pages.append(
            DocPage(
                slug=slug,
                title=title,
                order=int(match.group(1)) if match else _UNORDERED,
                path=path,
                summary=_summary_of(text),
            )
        )
    return sorted(pages, key=lambda p: (p.order, p.title.lower()))


def find_page(slug: str, directory: Path | None = None) -> tuple[DocPage | None, DocPage | None, DocPage | None]:
    """The page named `slug` (None if there is none) with the pages before and after it."""
    pages = list_pages(directory)
    for index, page in enumerate(pages):
        if page.slug == slug:
            before = pages[index - 1] if index > 0 else None
            after = pages[index + 1] if index + 1 < len(pages) else None
            return page, before, after
    return None, None, None


def sanitize(html_text: str) -> str:
    """Keep only safe markup (no scripts, handlers or dangerous URLs)."""
    return nh3.clean(html_text, attributes=_ATTRIBUTES)


def render_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Markdown to sanitized HTML with anchored headings, and the heading tree for an in-page menu."""
    converter = markdown.Markdown(
        extensions=["tables", "fenced_code", "toc", "sane_lists"],
        extension_configs={"toc": {"permalink": "#", "permalink_title": "Link to this section"}},
    )
    body = converter.convert(text)
    if SCHEMA_MARKER in text:
        body = body.replace(SCHEMA_MARKER, manifest_reference_html())
    tokens: list[dict[str, Any]] = getattr(converter, "toc_tokens", [])
    return sanitize(body), tokens


def render_page(page: DocPage) -> RenderedPage:
    body, tokens = render_markdown(page.path.read_text(encoding="utf-8"))
    headings = [
        {"id": child["id"], "name": html.unescape(child["name"])} for top in tokens for child in top["children"]
    ]
    return RenderedPage(page=page, html=body, headings=headings)


# -- Search ----------------------------------------------------------------------------------------------------

_MARKUP = re.compile(r"<!--.*?-->|[#*_`>|\[\]]+|\(https?://[^)]*\)", re.S)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", _MARKUP.sub(" ", text)).strip()


def _snippet(plain: str, terms: list[str], width: int = 90) -> str:
    lowered = plain.lower()
    first = min((lowered.find(t) for t in terms if t in lowered), default=0)
    start = max(first - width, 0)
    end = min(first + width * 2, len(plain))
    excerpt = plain[start:end]
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.I)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(excerpt):
        pieces.append(str(escape(excerpt[last : match.start()])))
        pieces.append(f"<mark>{escape(match.group(0))}</mark>")
        last = match.end()
    pieces.append(str(escape(excerpt[last:])))
    return ("…" if start else "") + "".join(pieces) + ("…" if end < len(plain) else "")


def search_docs(query: str, directory: Path | None = None, limit: int = 20) -> list[SearchHit]:
    """Pages containing every word of the query, best first, each with an escaped snippet marking the words."""
    terms = [t for t in re.findall(r"\w[\w.-]*", query.lower()) if len(t) > 1][:8]
    if not terms:
        return []
    hits = []
    for page in list_pages(directory):
        raw = page.path.read_text(encoding="utf-8")
        if SCHEMA_MARKER in raw:
            raw = raw + " " + manifest_reference_text()
        plain = _plain(raw)
        lowered = plain.lower()
        if not all(t in lowered for t in terms):
            continue
        score = sum(lowered.count(t) for t in terms) + sum(10 for t in terms if t in page.title.lower())
        hits.append(SearchHit(page=page, snippet_html=_snippet(plain, terms), score=score))
    return sorted(hits, key=lambda h: -h.score)[:limit]


# -- The manifest reference, generated from the schema -----------------------------------------------------------


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return load_json_schema()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return "schema-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, list[str]]:
    """A readable type (HTML, escaped) and the allowed values, following `$ref`s, arrays and unions."""
    if "$ref" in prop:
        name = _ref_name(prop["$ref"])
        target = defs.get(name, {})
        if target.get("type") == "object" or "properties" in target:
            return f'<a href="#{_anchor(name)}">{escape(name)}</a>', []
        return _type_of(target, defs)
    for union in ("anyOf", "oneOf"):
        if union in prop:
            parts = [_type_of(p, defs) for p in prop[union]]
            return " or ".join(p[0] for p in parts), [v for p in parts for v in p[1]]
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        inner, values = _type_of(prop["items"], defs)
        return f"array of {inner}", values
    values = [json.dumps(v) if not isinstance(v, str) else v for v in prop.get("enum", [])]
    if "const" in prop:
        values = [str(prop["const"])]
    return escape(str(kind)), values


def _objects() -> list[tuple[str, dict[str, Any]]]:
    schema = _schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    found = [("Manifest", schema)]
    found += [(name, d) for name, d in sorted(defs.items()) if d.get("type") == "object" or "properties" in d]
    return found


def manifest_reference_html() -> str:
    """One table per object of the schema: field, type, required, description, allowed values."""
    defs: dict[str, Any] = _schema().get("$defs", {})
    parts = []
    for name, obj in _objects():
        required = set(obj.get("required", []))
        parts.append(f'<h2 id="{_anchor(name)}">{escape(name)}</h2>')
        if obj.get("description"):
            parts.append(f"<p>{escape(obj['description'])}</p>")
        rows = []
        for field_name, prop in obj.get("properties", {}).items():
            type_html, values = _type_of(prop, defs)
            description = prop.get("description") or ""
            rows.append(
                "<tr>"
                f"<td><code>{escape(field_name)}</code></td>"
                f"<td>{type_html}</td>"
                f"<td>{'yes' if field_name in required else 'no'}</td>"
                f"<td>{escape(description)}</td>"
                f"<td>{', '.join(f'<code>{escape(v)}</code>' for v in values)}</td>"
                "</tr>"
            )
        parts.append(
            '<div class="table-wrap"><table class="table">'
            f'<caption class="visually-hidden">Fields of {escape(name)}</caption>'
            '<thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Required</th>'
            '<th scope="col">Description</th><th scope="col">Allowed values</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    return "\n".join(parts)


def manifest_reference_text() -> str:
    """The generated reference as plain words, so search finds fields and their descriptions."""
    words = []
    for name, obj in _objects():
        words.append(name)
        for field_name, prop in obj.get("properties", {}).items():
            words.extend([field_name, str(prop.get("description") or "")])
    return " ".join(words)
