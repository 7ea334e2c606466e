"""Session controls: idle and absolute timeouts per organization, and MFA enrolment for MFA-required orgs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services, session_control
from apps.accounts.selectors import password_sign_in_refused
from apps.accounts.session_control import SessionPolicy


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _session_policy(request: HttpRequest, now: datetime) -> tuple[SessionPolicy, bool]:
    """The session's policy, and whether it was just re-read from the database."""
    session = request.session
    read_at = session.get(session_control.POLICY_READ, 0)
    cached = session.get(session_control.POLICY)
    if cached is None or now.timestamp() - read_at > settings.SESSION_POLICY_RECHECK.total_seconds():
        policy = session_control.policy_for(request.user)
        session[session_control.POLICY] = policy.to_session()
        session[session_control.POLICY_READ] = now.timestamp()
        return policy, True
    return SessionPolicy.from_session(cached), False


class SessionControlMiddleware:
    """Ends a browser session that sat idle, or lived, longer than its person's organizations allow.

    Only sessions (not bearer tokens) are concerned. The first request of an untracked signed-in session
    (one opened before tracking existed) starts tracking it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not hasattr(request, "session"):
            return self.get_response(request)
        now = timezone.now()
        session = request.session
        started = session.get(session_control.STARTED)
        if started is None:
            # A session from before tracking (or from a test's force_login without a request): track it now.
            services.start_session(request=request, user=user, method="other")
            return self.get_response(request)
        policy, reread = _session_policy(request, now)
        seen = session.get(session_control.SEEN, started)
        reason = ""
        if reread and session.get(session_control.METHOD) == "password" and password_sign_in_refused(request.user):
            reason = "sso_required"
        elif now.timestamp() - started > policy.absolute.total_seconds():
            reason = "absolute_timeout"
        elif now.timestamp() - seen > policy.idle.total_seconds():
            reason = "idle_timeout"
        if reason:
            return self._end(request, reason)
        # "Last seen" moves in steps of SESSION_TOUCH_INTERVAL, so most requests write nothing.
        if now.timestamp() - seen > settings.SESSION_TOUCH_INTERVAL.total_seconds() and session.session_key:
            session[session_control.SEEN] = now.timestamp()
            services.touch_session(session_key=session.session_key)
        request.session_policy = policy  # type: ignore[attr-defined]
        return self.get_response(request)

    def _end(self, request: HttpRequest, reason: str) -> HttpResponse:
        from apps.accounts.models import UserSession

        key = request.session.session_key
        tracked = UserSession.objects.filter(session_key=key, ended_at__isnull=True).first() if key else None
        if tracked is not None:
            services.end_session(user_session=tracked, actor=None, reason=reason)
        logout(request)
        if _is_api(request):
            return JsonResponse(
                {"type": "about:blank", "title": "Session expired", "status": 401, "detail": "Sign in again."},
                status=401,
                content_type="application/problem+json",
                headers={"WWW-Authenticate": 'Session realm="api"'},
            )
        return redirect(f"{reverse('account_login')}?next={request.path}&expired={reason}")


# Paths a member without MFA may still use: enrolment itself, signing out, static files, health checks.
MFA_EXEMPT_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/reauthenticate/", "/static/", "/healthz")


class MfaEnforcementMiddleware:
    """Members of an organization that requires MFA and who have no second factor can do nothing but enrol."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        policy: SessionPolicy | None = getattr(request, "session_policy", None)
        if policy is None or not policy.require_mfa or request.path.startswith(MFA_EXEMPT_PREFIXES):
            return self.get_response(request)
        if request.path == "/readyz" or request.path == "/metrics":
            return self.get_response(request)
        from allauth.mfa.models import Authenticator

        enrolled = (
            Authenticator.objects.filter(user_id=request.user.pk)
            .filter(type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])
            .exists()
        )
        if enrolled:
            return self.get_response(request)
        if _is_api(request):
            return JsonResponse(
                {
                    "type": "about:blank",
                    "title": "Two-factor authentication required",
                    "status": 403,
                    "detail": "Your organization requires two-factor authentication: enrol in your account settings.",
                    "code": "mfa_enrolment_required",
                },
                status=403,
                content_type="application/problem+json",
            )
        return redirect(f"{reverse('mfa_activate_totp')}?required=1")
