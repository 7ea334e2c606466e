"""django-axes wiring: who an attempt names, the client's address, the lockout page, and a manual lock."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def username_of_attempt(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The account a sign-in attempt names: allauth passes `email`, the admin `username`, forms post `login`."""
    credentials = credentials or {}
    for key in ("email", "username", "login"):
        value = credentials.get(key)
        if value:
            return str(value).strip().lower()
    if request is not None and request.method == "POST":
        value = request.POST.get("login") or request.POST.get("username")
        if value:
            return str(value).strip().lower()
    return None


def client_ip(request: HttpRequest) -> str | None:
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


def cool_off_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(
    request: HttpRequest, response: Any = None, credentials: Any = None, **kwargs: Any
) -> HttpResponse:
    """429 with a page (or a problem document for the API) saying when to try again."""
    if request.path.startswith("/api/") or request.path.startswith("/o/"):
        return JsonResponse(
            {
                "type": "about:blank",
                "title": "Too many failed sign-ins",
                "status": 429,
                "detail": f"Sign-in is locked for {cool_off_minutes()} minutes after repeated failures.",
            },
            status=429,
            content_type="application/problem+json",
            headers={"Retry-After": str(int(settings.AXES_COOLOFF_TIME.total_seconds()))},
        )
    page = render(
        request,
        "accounts/locked_out.html",
        {"cool_off_minutes": cool_off_minutes(), "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    page["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return page


def lock_username(username: str) -> None:
    """Lock an account as if it had reached the failure limit now; the usual cool-off then applies."""
    from axes.models import AccessAttempt
    from django.utils import timezone

    AccessAttempt.objects.update_or_create(
        username=username.strip().lower(),
        ip_address=None,
        user_agent="",
        defaults={
            "failures_since_start": settings.AXES_FAILURE_LIMIT,
            "attempt_time": timezone.now(),
            "get_data": "",
            "post_data": "",
            "http_accept": "",
            "path_info": "locked by an operator or an automated response",
        },
    )
