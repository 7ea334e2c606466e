"""Residency rules evaluated as pure functions: may an organization's data go to a declared location?"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import ResidencyRule, RuleEffect

_LOCATION = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ResidencyViolation(BusinessRuleViolation):
    """An organization's data would leave the places its residency rules allow."""

    def __init__(self, message: str, *, destination_location: str, rule_id: str | None) -> None:
        super().__init__(message, code="residency_violation", field="destination_location")
        self.destination_location = destination_location
        self.rule_id = rule_id


def normalise_location(value: str | None) -> str:
    """A declared location code, lower-cased and trimmed (`EU-West ` -> `eu-west`)."""
    return (value or "").strip().lower()


def is_valid_location(value: str) -> bool:
    return bool(_LOCATION.match(value))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    rule: ResidencyRule | None = None


def decide(rules: Iterable[ResidencyRule], location: str) -> Decision:
    """Apply the rules to one location.

    Deny rules win. Allow rules are grouped by scope (the region's, the organization's own): every scope
    that has allow rules must allow the location. No rules at all means no restriction. A location that is
    missing or malformed is refused whenever any rule applies: an undeclared destination cannot be proven
    to be allowed.
    """
    rules = list(rules)
    if not rules:
        return Decision(allowed=True)
    if not is_valid_location(location):
        return Decision(
            allowed=False,
            reason="the destination does not declare a valid location, and residency rules apply to this data",
            rule=rules[0],
        )
    for rule in rules:
        if rule.effect == RuleEffect.DENY and fnmatchcase(location, rule.location_pattern.lower()):
            return Decision(allowed=False, reason=rule.reason, rule=rule)
    scopes: dict[object, list[ResidencyRule]] = {}
    for rule in rules:
        if rule.effect == RuleEffect.ALLOW:
            scopes.setdefault(rule.organization_id, []).append(rule)
    for allows in scopes.values():
        if not any(fnmatchcase(location, rule.location_pattern.lower()) for rule in allows):
            return Decision(allowed=False, reason=allows[0].reason, rule=allows[0])
    return Decision(allowed=True)
