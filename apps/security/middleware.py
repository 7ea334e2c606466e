"""Request-path protection: size limits, IP rules and threat intelligence, locked accounts and re-authentication.

Order in settings.MIDDLEWARE: `RequestSizeLimitMiddleware` right after the request id (before anything reads
a body); `NetworkRulesMiddleware` and `AccountSecurityMiddleware` right after Django's
AuthenticationMiddleware. Bearer-token principals (API keys, OAuth) are authenticated later by DRF: the
gateway and identity apps apply `refusal_for()` and `is_locked()` in their authentication classes.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.problems import problem_response
from apps.security.client_ip import client_ip
from apps.security.network_rules import compiled_rules, refusal_for
from apps.security.user_state import SESSION_AUTH_AT, user_security_state


def wants_problem_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


class RequestSizeLimitMiddleware:
    """Refuses bodies over the limit for their path with 413, before any view reads them.

    nginx enforces the same ceiling at the edge (client_max_body_size); this is the limit per route.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        overrides: dict[str, int] = settings.SECURITY_REQUEST_SIZE_OVERRIDES
        # Longest prefix first, so /api/v1/evidence/ can be larger than /api/.
        self.overrides = sorted(overrides.items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return int(settings.SECURITY_MAX_REQUEST_BYTES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        limit = self.limit_for(request.path)
        if length < 0 or length > limit:
            detail = f"The request body is larger than this endpoint accepts ({limit} bytes)."
            if length < 0:
                detail = "The Content-Length header is not a number."
            if wants_problem_json(request):
                status = 413 if length >= 0 else 400
                return problem_response(request, status_code=status, code="request_too_large", detail=detail)
            return HttpResponse(detail, status=413, content_type="text/plain")
        return self.get_response(request)


class NetworkRulesMiddleware:
    """Answers 403 to addresses that a rule, a threat feed or the member's organization refuses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rules = compiled_rules()
        address = client_ip(request)
        refusal = refusal_for(address, rules=rules)
        if refusal is None and rules.has_org_rules and SESSION_KEY in getattr(request, "session", {}):
            from apps.accounts.tenancy import request_organization

            organization = request_organization(request)
            if organization is not None:
                refusal = refusal_for(address, organization.pk, rules=rules)
        if refusal is None:
            return self.get_response(request)
        if wants_problem_json(request):
            return problem_response(request, status_code=403, code=f"ip_{refusal.reason}", detail=refusal.detail)
        return render(request, "security/blocked.html", {"refusal": refusal, "address": address}, status=403)


class AccountSecurityMiddleware:
    """Ends the session of a locked person, or of one whose sign-in predates a re-authentication demand."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        user_id = session.get(SESSION_KEY) if session is not None else None
        if user_id is None:
            return self.get_response(request)
        state = user_security_state(user_id)
        if state.locked:
            logout(request)
            if wants_problem_json(request):
                return problem_response(
                    request, status_code=401, code="account_locked", detail="This account is locked for now."
                )
            return render(request, "security/locked.html", status=403)
        signed_in_at = float(session.get(SESSION_AUTH_AT, 0)) if session is not None else 0.0
        if state.reauth_after is not None and signed_in_at < state.reauth_after:
            logout(request)
            if wants_problem_json(request):
                return problem_response(
                    request,
                    status_code=401,
                    code="reauthentication_required",
                    detail="Please sign in again: this session started before a security check.",
                )
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
