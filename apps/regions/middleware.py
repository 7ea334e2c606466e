"""Requests for an organization homed in another region are sent there, never served here.

The organization a request is for comes, in order, from:

1. an `organization_slug` in the matched URL (pages such as `/orgs/<organization_slug>/`),
2. the `X-Organization` header (a slug, as API clients send it),
3. the signed-in person's organization (`apps.accounts.tenancy`), from their session.

Machine principals (API keys, OAuth clients, mTLS) are authenticated later, by DRF; their authentication
classes call `apps.regions.routing.ensure_served_here()` once they know the organization.

Pages are redirected (302 for GET/HEAD, 307 otherwise so the method and body survive); API calls get a 307
with `Location` and a problem+json body naming the region. The middleware also feeds the per-region traffic
figures (request count, 5xx share, latency) that the health sampler reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.regions import routing, traffic

ORGANIZATION_SLUG_KWARG = "organization_slug"


class RegionRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.exempt = tuple(settings.REGION_ROUTING_EXEMPT_PREFIXES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        traffic.recorder.record(status=response.status_code, seconds=time.perf_counter() - started)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.path.startswith(self.exempt) or getattr(view_func, "serves_every_region", False):
            return None
        slug = view_kwargs.get(ORGANIZATION_SLUG_KWARG) or request.headers.get("X-Organization", "")
        if slug:
            return routing.response_for_slug(request, str(slug))
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return routing.response_for_signed_in_person(request)
        return None
