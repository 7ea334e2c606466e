"""Answers for requests that belong to another region: a redirect for pages, a 307 problem for the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseRedirectBase
from django.shortcuts import render

from apps.core.problems import Problem, problem_response
from apps.regions.selectors import home_of_organization_slug, local_region_code, region_public_url

ViewT = TypeVar("ViewT", bound=Callable[..., Any])

REDIRECT_CODE = "region_redirect"


class HttpResponseTemporaryRedirect(HttpResponseRedirectBase):
    """307: the client repeats the same method with the same body at the new location."""

    status_code = 307


def serves_every_region(view: ViewT) -> ViewT:
    """Mark a view that each region answers itself (e.g. the replication inbox)."""
    view.serves_every_region = True  # type: ignore[attr-defined]
    return view


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def location_in(public_url: str, request: HttpRequest) -> str:
    return public_url.rstrip("/") + request.get_full_path()


def response_for_slug(request: HttpRequest, slug: str) -> HttpResponse | None:
    """None when the organization with this slug lives here (or is unknown); else the way to its region."""
    home = home_of_organization_slug(slug)
    if home is None or home.region_code == local_region_code():
        return None
    return foreign_region_response(request, region_code=home.region_code, public_url=home.public_url)


def response_for_signed_in_person(request: HttpRequest) -> HttpResponse | None:
    from apps.accounts.tenancy import organization_of_principal

    # Not `request_organization()`: that caches its answer on the request, and here DRF has not yet
    # authenticated machine principals, so a cached "no organization" would outlive their authentication.
    organization = organization_of_principal(request)
    if organization is None or organization.home_region_code == local_region_code():
        return None
    return foreign_region_response(
        request, region_code=organization.home_region_code, public_url=region_public_url(organization.home_region_code)
    )


def foreign_region_response(request: HttpRequest, *, region_code: str, public_url: str | None) -> HttpResponse:
    if public_url is None:
        # We know the organization lives elsewhere but not where that is: refuse rather than serve it here.
        detail = f"This organization is served by region {region_code}, which this region does not know."
        if is_api_request(request):
            return problem_response(
                request, status_code=503, code="home_region_unknown", detail=detail, extra={"region": region_code}
            )
        return render(request, "regions/home_region_unknown.html", {"region_code": region_code}, status=503)
    location = location_in(public_url, request)
    if is_api_request(request):
        response = problem_response(
            request,
            status_code=307,
            code=REDIRECT_CODE,
            title="Served by another region",
            detail=f"This organization is served by region {region_code}; repeat the request at `location`.",
            extra={"region": region_code, "location": location},
        )
        response["Location"] = location
        return response
    if request.method in ("GET", "HEAD"):
        return HttpResponseRedirect(location)
    return HttpResponseTemporaryRedirect(location)


def ensure_served_here(request: HttpRequest, organization: Any) -> None:
    """For DRF authentication of machine principals: raise a 307 problem when the organization lives elsewhere."""
    code = organization.home_region_code
    if code == local_region_code():
        return
    public_url = region_public_url(code)
    if public_url is None:
        raise Problem(
            status_code=503,
            code="home_region_unknown",
            detail=f"This organization is served by region {code}, which this region does not know.",
            extra={"region": code},
        )
    location = location_in(public_url, request)
    raise Problem(
        status_code=307,
        code=REDIRECT_CODE,
        title="Served by another region",
        detail=f"This organization is served by region {code}; repeat the request at `location`.",
        extra={"region": code, "location": location},
        headers={"Location": location},
    )
