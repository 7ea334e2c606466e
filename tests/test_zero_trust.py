"""Zero trust, checked: every URL pattern demands authentication unless it is on the reviewed public list.

Walks the whole URL configuration, so a view added tomorrow is covered the day it lands. Each view is
asked anonymously (GET, then POST if GET is not allowed); it must send the caller to sign in, or answer
401/403. DRF views are also checked statically: authentication classes present and a permission that
requires an authenticated principal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from nofx.public_views import PUBLIC_VIEWS

CANDIDATES = (str(uuid.UUID(int=7)), "1", "x1", "auth")
_CONVERTER_SAMPLES = {"uuid": CANDIDATES[0], "int": "1", "path": "x1", "str": "x1", "slug": "x1"}
_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>(?:[^()]|\([^()]*\))*)\)")


def _sample_for_group(body: str) -> str:
    for candidate in CANDIDATES:
        if re.fullmatch(body, candidate):
            return candidate
    raise AssertionError(f"No sample value fits the URL group ({body}); add one to CANDIDATES.")


def _concrete(route: str) -> str:
    # Regex groups first: their `(?P<name>` would otherwise look like a path converter.
    route = _NAMED_GROUP.sub(lambda m: _sample_for_group(m.group("body")), route)
    route = _ROUTE_PARAM.sub(lambda m: _CONVERTER_SAMPLES[m.group("converter") or "str"], route)
    # Optional trailing slashes in regex routes (`/?`) are taken as present.
    return "/" + route.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")


def _walk(patterns: list[object], prefix: str = "", namespace: str | None = None) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield _concrete(prefix + str(entry.pattern)), entry if not name else _named(entry, name)


def _named(entry: URLPattern, name: str) -> URLPattern:
    entry.qualified_name = name  # type: ignore[attr-defined]
    return entry


def _routes() -> list[tuple[str, str, URLPattern]]:
    routes = []
    for url, pattern in _walk(get_resolver().url_patterns):
        name = getattr(pattern, "qualified_name", "") or str(pattern.pattern)
        routes.append((name, url, pattern))
    return routes


ROUTES = _routes()


def _demands_sign_in(response) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    return response.status_code == 302 and ("/accounts/login/" in location or "/admin/login/" in location)


def test_the_walk_covers_the_whole_url_configuration():
    names = {name for name, _, _ in ROUTES}

    assert {"core:dashboard", "api:security-event-list", "compliance:report", "admin:index"} <= names
    assert len(ROUTES) > 100


def test_every_public_view_on_the_list_still_exists():
    names = {name for name, _, _ in ROUTES}

    assert set(PUBLIC_VIEWS) <= names, f"Remove from PUBLIC_VIEWS: {sorted(set(PUBLIC_VIEWS) - names)}"


def _offence(name: str, url: str, pattern: URLPattern, client) -> str | None:
    """Why this view fails the zero-trust rule, or None when it demands authentication."""
    if resolve(url).func != pattern.callback:
        return f"{name}: the sample URL {url} does not resolve to it"
    view_class = getattr(pattern.callback, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView):
        if not view_class.authentication_classes:
            return f"{name}: no authentication classes"
        if not any(issubclass(p, IsAuthenticated) for p in view_class.permission_classes):
            return f"{name}: no permission class requires an authenticated principal"
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url)
    if not _demands_sign_in(response):
        return f"{name} ({url}) answered {response.status_code} to an anonymous caller"
    return None


@pytest.mark.django_db
def test_every_view_demands_authentication_unless_it_is_reviewed_as_public(client):
    # given every route not on the reviewed list
    protected = [route for route in ROUTES if route[0] not in PUBLIC_VIEWS]
    # when an anonymous caller asks each of them
    offences = [o for name, url, pattern in protected if (o := _offence(name, url, pattern, client))]
    # then
    assert offences == [], "Views reachable without authentication:\n" + "\n".join(offences)


@pytest.mark.django_db
def test_the_check_notices_a_view_that_answers_anonymous_callers(client):
    name, url, pattern = next(route for route in ROUTES if route[0] == "core:landing")

    assert _offence(name, url, pattern, client) == "core:landing (/) answered 200 to an anonymous caller"
