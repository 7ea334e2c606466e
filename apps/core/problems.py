"""One error shape for the whole API: RFC 9457 problem details (`application/problem+json`).

Every error a client can see has `type`, `title`, `status`, `detail` and `instance`; validation errors
add `errors`, a list of `{field, message, code}`, so a client can show each message next to its field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.exceptions import BusinessRuleViolation

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://nofx.dev/problems/"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    451: "Unavailable for legal reasons",
    500: "Server error",
    503: "Service unavailable",
}


class Problem(exceptions.APIException):
    """Raise from a view or service to answer with a specific problem type."""

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        detail: str,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.problem_code = code
        self.title = title or _TITLES.get(status_code, "Error")
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}


def flatten_validation_errors(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested error dict/list into a flat list of `{field, message, code}`."""
    flat: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if not prefix else f"{prefix}.{key}"
            if key in ("non_field_errors", "__all__"):
                field = prefix or None
            flat.extend(flatten_validation_errors(value, field or ""))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                flat.extend(flatten_validation_errors(value, f"{prefix}[{index}]" if prefix else str(index)))
            else:
                flat.extend(flatten_validation_errors(value, prefix))
    else:
        flat.append({"field": prefix or None, "message": str(detail), "code": getattr(detail, "code", "invalid")})
    return flat


def problem_body(
    *,
    status_code: int,
    code: str,
    detail: str,
    instance: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title or _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler rendering every handled error as problem+json."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, BusinessRuleViolation):
        rule_errors: list[dict[str, Any]] = exc.errors or [
            {"field": exc.field, "message": exc.message, "code": exc.code}
        ]
        exc = Problem(status_code=exc.status_code, code=exc.code, detail=exc.message, errors=rule_errors)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
    errors: list[dict[str, Any]] | None = None
    title: str | None = None
    extra: dict[str, Any] = {}
    if isinstance(exc, Problem):
        code, detail, title, errors, extra = exc.problem_code, str(exc.detail), exc.title, exc.errors, exc.extra
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        code, detail = "validation_error", "The request has invalid fields; see `errors`."
        errors = flatten_validation_errors(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        raw = exc.get_codes()
        code = raw if isinstance(raw, str) else exc.default_code
        detail = str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc.default_detail)
    else:  # pragma: no cover - DRF only handles APIException subclasses
        code, detail = "error", str(exc)
    response.data = problem_body(
        status_code=response.status_code,
        code=code,
        detail=detail,
        instance=instance,
        title=title,
        errors=errors,
        extra=extra,
    )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(request: HttpRequest, *, status_code: int, code: str, detail: str, **kwargs: Any) -> JsonResponse:
    """A problem+json response for plain Django views and middleware (outside DRF)."""
    body = problem_body(status_code=status_code, code=code, detail=detail, instance=request.get_full_path(), **kwargs)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def not_found_json(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(
        request, status_code=status.HTTP_404_NOT_FOUND, code="not_found", detail="No such resource."
    )


def server_error_json(request: HttpRequest) -> JsonResponse:
    return problem_response(
        request,
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        code="server_error",
        detail="Something went wrong on our side; the request id in X-Request-ID identifies it.",
    )
