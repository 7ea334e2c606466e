"""The gateway in front of the API: for machine callers, authenticate -> rate limit and quota ->
idempotency -> the view -> rate-limit headers -> usage record.

People signed in to the console pass straight through; their requests are not metered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from apps.core.after_response import after_response, deferred_until_sent
from apps.core.cache import add_to_counter
from apps.core.problems import problem_response
from apps.gateway import idempotency
from apps.gateway.authentication import GatewayRefusal, resolve_credential
from apps.gateway.principals import GatewayCredential
from apps.gateway.rate_limits import Decision, Quota, Rate, default_store, month_key, seconds_to_next_month
from apps.gateway.selectors import organization_plan
from apps.gateway.services import report_hammering
from apps.gateway.usage import record_usage
from apps.security.client_ip import client_ip
from apps.security.observers import observe_quietly
from apps.security.services import observe_api_request

API_PREFIX = "/api/"


def admit(credential: GatewayCredential, *, now_us: int | None = None) -> Decision:
    """Check the client's and its organization's rate limits and monthly quotas in one atomic step."""
    client = credential.client
    prefix = settings.GATEWAY_REDIS_PREFIX
    month = month_key(timezone.now())
    plan = client.plan
    rates = [
        Rate.per_minute(f"{prefix}:rate:client:{client.pk}", rate_per_minute=plan.rate_per_minute, burst=plan.burst)
    ]
    quotas = []
    if plan.monthly_quota is not None:
        quotas.append(Quota(f"{prefix}:quota:client:{client.pk}:{month}", plan.monthly_quota))
    org_plan = organization_plan(client.organization_id)
    if org_plan is not None:
        org = client.organization_id
        rates.append(
            Rate.per_minute(f"{prefix}:rate:org:{org}", rate_per_minute=org_plan.rate_per_minute, burst=org_plan.burst)
        )
        if org_plan.monthly_quota is not None:
            quotas.append(Quota(f"{prefix}:quota:org:{org}:{month}", org_plan.monthly_quota))
    return default_store().check(rates, quotas, now_us)


def note_refusal(credential: GatewayCredential, request: HttpRequest) -> None:
    """Count 429s per client in fixed windows; past the threshold, report the client once per window."""
    window = settings.GATEWAY_HAMMERING_WINDOW_SECONDS
    bucket = int(time.time() // window)
    count = add_to_counter(f"gateway:refused:{credential.client.pk}:{bucket}", timeout=window * 2)
    if count == settings.GATEWAY_HAMMERING_THRESHOLD:
        report_hammering(client=credential.client, refusals=count, window_seconds=window, client_ip=client_ip(request))


def _rate_limit_headers(response: HttpResponse, decision: Decision) -> None:
    response["RateLimit-Limit"] = str(decision.limit)
    response["RateLimit-Remaining"] = str(decision.remaining)
    response["RateLimit-Reset"] = str(decision.reset_seconds)


def _refused(request: HttpRequest, decision: Decision) -> HttpResponse:
    if decision.refused_by == "quota":
        scope = "organization's" if ":org:" in decision.refused_key else "client's"
        retry_after = seconds_to_next_month(timezone.now())
        response = problem_response(
            request,
            status_code=429,
            code="quota_exceeded",
            detail=f"The {scope} monthly quota is used up; it renews at the start of next month (UTC).",
        )
    else:
        scope = "organization's" if ":org:" in decision.refused_key else "client's"
        retry_after = decision.retry_after_seconds
        response = problem_response(
            request,
            status_code=429,
            code="rate_limited",
            detail=f"Too many requests for the {scope} rate limit; retry after {retry_after} s.",
        )
    response["Retry-After"] = str(retry_after)
    return response


def operation_of(request: HttpRequest) -> str:
    named: str | None = getattr(request, "_nofx_operation", None)
    if named:
        return named
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unknown"
    return match.view_name or "unknown"


def _refusal_response(request: HttpRequest, refusal: GatewayRefusal) -> HttpResponse:
    response = problem_response(
        request,
        status_code=refusal.status_code,
        code=refusal.code,
        detail=refusal.detail,
        title=refusal.title,
        extra=refusal.extra or None,
    )
    for name, value in refusal.headers.items():
        response[name] = value
    return response


class GatewayMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        started = time.perf_counter_ns()
        try:
            credential = resolve_credential(request)
        except GatewayRefusal as refusal:
            return _refusal_response(request, refusal)
        if credential is None:
            return self.get_response(request)
        # The call's bookkeeping (its usage record, the detectors' counters, the audit event of the action it
        # ran) happens once the response is on its way: see apps.core.after_response.
        with deferred_until_sent() as deferred:
            decision = admit(credential)
            if decision.allowed:
                response = self._call_view(request, credential)
            else:
                response = _refused(request, decision)
                note_refusal(credential, request)
            _rate_limit_headers(response, decision)
            latency_us = (time.perf_counter_ns() - started) // 1000
            after_response(
                partial(
                    record_usage,
                    credential=credential,
                    request=request,
                    response=response,
                    operation=operation_of(request),
                    latency_us=latency_us,
                )
            )
            # After the limiter decided, 429s included: the hammering and usage-anomaly rules count both.
            after_response(
                partial(
                    observe_quietly,
                    observe_api_request,
                    client_id=str(credential.client.pk),
                    ip=client_ip(request),
                    status=response.status_code,
                    organization=credential.organization,
                )
            )
        deferred.attach(response)
        return response

    def _call_view(self, request: HttpRequest, credential: GatewayCredential) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return self.get_response(request)
        if not idempotency.is_valid_key(key):
            return problem_response(
                request,
                status_code=400,
                code="invalid_idempotency_key",
                detail="An Idempotency-Key is 1 to 255 printable ASCII characters.",
            )
        outcome = idempotency.begin(client=credential.client, key=key, request=request)
        if outcome.kind == "replay" and outcome.record is not None:
            return idempotency.replay(outcome.record)
        if outcome.kind == "mismatch":
            return problem_response(
                request,
                status_code=422,
                code="idempotency_key_reused",
                detail="This Idempotency-Key was used for a different request.",
            )
        if outcome.kind != "new" or outcome.record is None:
            busy = problem_response(
                request,
                status_code=409,
                code="idempotency_request_in_progress",
                detail="A request with this Idempotency-Key is still being processed; retry shortly.",
            )
            busy["Retry-After"] = "1"
            return busy
        try:
            response = self.get_response(request)
        except BaseException:
            idempotency.release(record=outcome.record)
            raise
        idempotency.complete(record=outcome.record, response=response)
        return response
