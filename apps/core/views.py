from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from apps.accounts.models import Invitation, Membership, Team, User
from apps.accounts.permissions import user_can
from apps.accounts.selectors import membership_for
from apps.accounts.tenancy import request_organization
from apps.core import health
from apps.core.problems import not_found_json, problem_response, server_error_json
from apps.security.models import AuditEvent


def landing(request: HttpRequest) -> HttpResponse:
    """The public front page: what the product is, and the way in."""
    return render(request, "core/landing.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The active organization at a glance: its people, its teams and the latest entries of its audit log."""
    organization = request_organization(request)
    if organization is None:
        return render(request, "core/dashboard.html", {"organization": None})
    user = request.user
    can_read_audit = user_can(user, "audit.view", organization)
    can_invite = user_can(user, "invitations.manage", organization)
    events = (
        list(AuditEvent.objects.for_organization(organization).order_by("-occurred_at", "-seq")[:10])
        if can_read_audit
        else []
    )
    # One query names every person in the list; the log itself keeps only their ids.
    actor_ids = {event.actor_id for event in events if event.actor_type == "user" and event.actor_id}
    actors = {str(pk): person for pk, person in User.objects.in_bulk(list(actor_ids)).items()} if actor_ids else {}
    recent_events = [
        {
            "event": event,
            "area": event.action.split(".", 1)[0].replace("_", " ").capitalize(),
            "summary": event.action.split(".", 1)[-1].replace("_", " ").capitalize(),
            "actor": (
                actors[event.actor_id].get_full_name()
                if event.actor_id in actors
                else "System"
                if event.actor_type == "system"
                else event.actor_type.replace("_", " ").capitalize()
            ),
        }
        for event in events
    ]
    context = {
        "organization": organization,
        "membership": membership_for(user, organization),
        "member_count": Membership.objects.for_organization(organization).count(),
        "team_count": Team.objects.for_organization(organization).count(),
        "pending_invitation_count": (
            Invitation.objects.for_organization(organization)
            .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
            .count()
            if can_invite
            else None
        ),
        "can_read_audit": can_read_audit,
        "can_invite": can_invite,
        "recent_events": recent_events,
    }
    return render(request, "core/dashboard.html", context)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving. Nothing else is checked: restarts are for a stuck process only."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take traffic: the database, the cache and the broker all answer."""
    results: dict[str, dict[str, object]] = {}
    for name, check in health.CHECKS.items():
        started = time.perf_counter()
        error = check()
        results[name] = {
            "status": "ok" if error is None else "error",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            **({"error": error} if error else {}),
        }
    ready = all(r["status"] == "ok" for r in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return problem_response(request, status_code=401, code="not_authenticated", detail="Metrics need a token.")
    return ExportToDjangoView(request)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return not_found_json(request, exception)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return server_error_json(request)
    # No request context: context processors may need the very database or cache that just failed.
    return HttpResponseServerError(loader.get_template("500.html").render())
