"""Errors that services raise when a business rule refuses an operation.

Adapters translate them: the API into problem+json (422 or 409), forms into errors next to the field.
"""

from __future__ import annotations

from typing import Any


class BusinessRuleViolation(Exception):
    """The request is understood but a rule of the domain refuses it."""

    status_code = 422

    def __init__(
        self,
        message: str,
        *,
        code: str = "rule_violation",
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        # Several problems at once (e.g. every invalid configuration field): `{field, message, code}` each.
        self.errors = errors


class Conflict(BusinessRuleViolation):
    """The operation conflicts with the current state (already accepted, already exists ...)."""

    status_code = 409


class NotPermitted(BusinessRuleViolation):
    """The actor may not do this, for a reason the rule itself states (e.g. granting a higher role)."""

    status_code = 403
