from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from apps.core import health
from apps.core.problems import not_found_json, problem_response, server_error_json


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "core/landing.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "core/dashboard.html")


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
    return render(request, "500.html", status=500)
