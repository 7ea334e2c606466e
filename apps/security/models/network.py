"""Network rules: IP allow/deny rules (global and per organization) and threat-intelligence feeds."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.core.models import BaseModel, OrganizationScopedQuerySet


def normalise_cidr(value: str) -> str:
    """`10.0.0.7` -> `10.0.0.7/32`, `2001:db8::/32` as is; refuses host bits and garbage."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise ValidationError(f"{value!r} is not an IP address or CIDR network ({exc}).", code="invalid_cidr") from exc


def validate_cidr(value: str) -> None:
    normalise_cidr(value)


class IPRuleAction(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"


class IPRuleSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    RESPONSE = "response", "Automated response"


class IPRuleQuerySet(OrganizationScopedQuerySet):
    def in_force(self) -> IPRuleQuerySet:
        now = timezone.now()
        return self.filter(disabled_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class IPRule(BaseModel):
    """Allow or deny a network. Without an organization the rule is global (operators only).

    Global deny refuses every request from the network; an organization's deny refuses its members'
    requests; once an organization has an allow rule, its members may only come from allowed networks.
    A global allow overrides global denies and threat intelligence (an operator's explicit exception).
    """

    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    cidr = models.CharField(max_length=64, validators=[validate_cidr])
    action = models.CharField(max_length=8, choices=IPRuleAction.choices)
    source = models.CharField(max_length=16, choices=IPRuleSource.choices, default=IPRuleSource.MANUAL)
    note = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.ForeignKey(
        "security.SecurityEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="ip_rules"
    )

    objects = IPRuleQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("organization", "disabled_at"))]

    def __str__(self) -> str:
        scope = "global" if self.organization_id is None else "org"
        return f"{self.action} {self.cidr} ({scope})"

    def clean(self) -> None:
        super().clean()
        if self.cidr:
            self.cidr = normalise_cidr(self.cidr)


class ThreatFeedFormat(models.TextChoices):
    PLAIN = "plain", "Plain list (one IP or CIDR a line)"
    STIX = "stix", "STIX-like JSON bundle"


class ThreatFeed(BaseModel):
    """A list of known-bad addresses, read from a file or a URL on a schedule."""

    name = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=500, help_text="An https:// URL, or a file path on the servers.")
    format = models.CharField(max_length=8, choices=ThreatFeedFormat.choices, default=ThreatFeedFormat.PLAIN)
    enabled = models.BooleanField(default=True)
    refresh_minutes = models.PositiveIntegerField(default=60)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_sha256 = models.CharField(max_length=64, blank=True)
    indicator_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def is_due(self) -> bool:
        if not self.enabled:
            return False
        if self.last_fetched_at is None:
            return True
        return (timezone.now() - self.last_fetched_at).total_seconds() >= self.refresh_minutes * 60


class ThreatIndicator(models.Model):
    """One bad network from a feed. Replaced as a whole each time the feed is imported."""

    id = models.BigAutoField(primary_key=True)
    feed = models.ForeignKey(ThreatFeed, on_delete=models.CASCADE, related_name="indicators")
    cidr = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("feed", "cidr"), name="security_threatindicator_unique")]

    def __str__(self) -> str:
        return f"{self.cidr} ({self.feed_id})"
