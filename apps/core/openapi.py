"""Schema generation: every operation documents its error responses with the one problem+json shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions

from apps.core.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document: the one shape of every error this API returns.",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "A URI naming the kind of problem."},
        "title": {"type": "string", "description": "A short summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong with this request, for a person to read."},
        "instance": {"type": "string", "description": "The path of the request."},
        "errors": {
            "type": "array",
            "description": "Per-field errors, for validation problems and refused rules.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {
                        "type": "string",
                        "nullable": True,
                        "description": "Dotted path of the offending field; null for the whole request.",
                    },
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "message", "code"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "instance"],
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    required=False,
    description="For API clients: 1 to 255 printable ASCII characters. A retry with the same key and body gets "
    "the first response again (for 24 hours) instead of doing the work twice; the same key with another body "
    "answers 422, and while the first request runs, 409.",
)

_DESCRIPTIONS = {
    "400": "The request is malformed or has invalid fields (see `errors`).",
    "401": "No valid credentials were presented.",
    "403": "The credentials are valid but lack the permission for this operation.",
    "404": "No such resource in the caller's organization (objects of other organizations are never revealed).",
    "409": "The request conflicts with the resource's current state.",
    "415": "The request body's media type is not supported.",
    "422": "The request is well-formed but violates a rule (see `errors`).",
    "429": "Rate limit or quota exceeded; retry after `Retry-After` seconds.",
    "451": "A data-residency rule forbids sending the organization's data to this destination; `rule_id` "
    "names the rule, `detail` gives its reason.",
    "502": "The external system answered with an error, or with output that breaks the action's schema.",
    "503": "The external system is unavailable or rate-limited us; retry after `Retry-After` seconds if given.",
}


class ProblemAutoSchema(AutoSchema):
    """Adds the problem+json error responses that an operation can actually produce.

    Views add more codes (409, 422, 429 ...) by listing them in an `extra_error_codes` attribute.
    """

    def _problem_ref(self) -> dict[str, Any]:
        component = ResolvedComponent(
            name="Problem", type=ResolvedComponent.SCHEMA, object="Problem", schema=PROBLEM_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _error_codes(self) -> set[str]:
        codes: set[str] = set()
        method = self.method.upper()
        if method in ("POST", "PUT", "PATCH"):
            codes |= {"400", "415"}
        if method == "GET" and (self._is_list_view() or self._get_filter_parameters()):
            # Bad filter values and a malformed cursor.
            codes |= {"400", "404"}
        if "{" in self.path:
            codes.add("404")
        perms = getattr(self.view, "permission_classes", [])
        if not all(p is permissions.AllowAny for p in perms):
            # Any authenticated operation may meet an API client's rate limit or quota (apps.gateway).
            codes |= {"401", "403", "429"}
            if method == "POST":
                # An Idempotency-Key still in use (409) or reused for another request (422).
                codes |= {"409", "422"}
        codes |= {str(code) for code in getattr(self.view, "extra_error_codes", ())}
        return codes

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        perms = getattr(self.view, "permission_classes", [])
        if self.method.upper() == "POST" and not all(p is permissions.AllowAny for p in perms):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        ref = self._problem_ref()
        for code in sorted(self._error_codes()):
            if code not in responses:
                responses[code] = {
                    "description": _DESCRIPTIONS.get(code, "Error."),
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": ref}},
                }
        return responses
