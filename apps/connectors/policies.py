"""Retry and rate-limit policies of a connector: plain values, validated when a connector is saved."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from apps.connectors.errors import ConfigInvalid

RETRYABLE_STATUSES = (408, 425, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `Retry-After` from the vendor always wins over our own delay."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is not slept through: the call fails as RateLimited for a later retry.
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before attempt `attempt + 1`: half fixed, half random ("equal jitter"), capped."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        if retry_after is not None:
            # A little jitter on top, so workers told the same Retry-After do not return in lockstep.
            return retry_after + (rng or random).uniform(0, min(retry_after * 0.1, 1.0))
        return self.backoff(attempt, rng)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetryPolicy:
        return _build(cls, data or {}, "retry_policy")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateLimitPolicy:
    """Our own pacing on top of what the vendor's headers say.

    `requests_per_second` (with `burst`) paces calls even before the vendor has told us anything;
    `reserve` keeps that many calls of the vendor's quota unused (e.g. for people using the same
    Salesforce org); `max_wait` is the longest a call waits for budget before failing as RateLimited.
    """

    requests_per_second: float | None = None
    burst: int = 1
    reserve: int = 0
    max_wait: float = 30.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RateLimitPolicy:
        return _build(cls, data or {}, "rate_limit")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    errors = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            errors.append({"field": f"{prefix}.{key}", "message": "Unknown setting.", "code": "unknown"})
            continue
        expected = int if known[key].type in ("int",) else float
        if value is None and "None" in str(known[key].type):
            values[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            errors.append({"field": f"{prefix}.{key}", "message": "Must be a non-negative number.", "code": "invalid"})
            continue
        values[key] = expected(value)
    if "max_attempts" in values and values["max_attempts"] < 1:
        errors.append({"field": f"{prefix}.max_attempts", "message": "At least 1.", "code": "min_value"})
    if values.get("requests_per_second") == 0:
        values["requests_per_second"] = None
    if "burst" in values and values["burst"] < 1:
        errors.append({"field": f"{prefix}.burst", "message": "At least 1.", "code": "min_value"})
    if errors:
        raise ConfigInvalid("The policy is not valid.", errors=errors)
    return cls(**values)
