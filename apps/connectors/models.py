"""Connectors: an organization's connections to external systems, their webhooks and their health."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from apps.core.fields import EncryptedJSONField
from apps.core.models import BaseModel, OrganizationOwnedModel


class ConnectorType(models.TextChoices):
    REST = "rest", "REST"
    GRAPHQL = "graphql", "GraphQL"
    WEBHOOK = "webhook", "Webhook"
    STREAMING = "streaming", "Streaming"


class ConnectorStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DEGRADED = "degraded", "Degraded"
    FAILING = "failing", "Failing"
    PAUSED = "paused", "Paused"


class ConnectorManifest(OrganizationOwnedModel):
    """A declarative connector definition (JSON/YAML, in the format of /schemas/connector-manifest.schema.json)."""

    name = models.SlugField(max_length=60)
    title = models.CharField(max_length=120)
    version = models.CharField(max_length=40, default="1.0.0")
    document = models.JSONField(help_text="The validated manifest.")
    document_sha256 = models.CharField(max_length=64, editable=False)
    # Where a manifest came from when the organization did not write it itself: a marketplace installation
    # (`marketplace:<installation id>`). Uninstalling deactivates it; no new connector can use it then.
    installed_from = models.CharField(max_length=80, blank=True, db_index=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("organization", "name"), name="connector_manifest_unique_name")]

    def __str__(self) -> str:
        return f"{self.title} ({self.name} {self.version})"


class Connector(OrganizationOwnedModel):
    """One organization's connection to one external system (the seed's `enterprise_connectors`)."""

    name = models.CharField(max_length=120)
    provider = models.CharField(max_length=40, db_index=True, help_text="A key of the provider registry.")
    manifest = models.ForeignKey(
        ConnectorManifest, null=True, blank=True, on_delete=models.PROTECT, related_name="connectors"
    )
    connector_type = models.CharField(max_length=16, choices=ConnectorType.choices, default=ConnectorType.REST)
    base_url = models.URLField(max_length=500)
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret provider settings.")
    # Secrets: tokens, passwords, webhook secrets. Encrypted at rest, never returned by the API.
    credentials = EncryptedJSONField(null=True, blank=True)
    credentials_rotated_at = models.DateTimeField(null=True, blank=True)
    capabilities = models.JSONField(default=list, blank=True, help_text="Names of the actions this connector offers.")
    rate_limit = models.JSONField(default=dict, blank=True)
    retry_policy = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.FloatField(default=30.0)
    data_region = models.CharField(max_length=32, blank=True, help_text="Where the external system keeps data.")
    data_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 country code.")
    status = models.CharField(max_length=16, choices=ConnectorStatus.choices, default=ConnectorStatus.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("organization", "name"), name="connector_unique_name")]
        indexes = [models.Index(fields=("status", "last_checked_at"), name="connector_health_due")]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    @property
    def credential_fields(self) -> list[str]:
        """Which secrets are set, by name only."""
        return sorted((self.credentials or {}).keys())

    @property
    def is_paused(self) -> bool:
        return self.status == ConnectorStatus.PAUSED


class DeliveryStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted (queued)"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Processing failed"
    DUPLICATE = "duplicate", "Duplicate (dropped)"
    REJECTED = "rejected", "Rejected"


class WebhookDelivery(OrganizationOwnedModel):
    """Every request that reached /hooks/<connector-id>/, accepted or not."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="webhook_deliveries")
    delivery_id = models.CharField(max_length=200, blank=True)
    # Set only on the first accepted delivery of an id: the unique index drops duplicates, even in a race.
    dedupe_key = models.CharField(max_length=300, null=True, blank=True, unique=True, editable=False)
    event_type = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=120, blank=True, help_text="Why it was rejected or dropped.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Request headers, secrets redacted.")
    body = models.TextField(blank=True)
    body_sha256 = models.CharField(max_length=64, db_index=True)
    affected = models.JSONField(default=list, blank=True, help_text="Records the delivery says changed.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-received_at",)
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=("connector", "-received_at"), name="delivery_by_connector")]

    def __str__(self) -> str:
        return f"{self.event_type or 'delivery'} {self.delivery_id} ({self.status})"


class ConnectorHealthSample(BaseModel):
    """One health check of one connector; uptime and latency percentiles are computed from these."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="health_samples")
    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    latency_ms = models.FloatField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-checked_at",)
        indexes = [models.Index(fields=("connector", "checked_at"), name="health_by_connector")]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'} {self.latency_ms:.0f} ms at {self.checked_at:%Y-%m-%d %H:%M}"


class NotificationRoute(OrganizationOwnedModel):
    """Sends the organization's platform events (sync failures, security events ...) to a chat channel."""

    name = models.CharField(max_length=120)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="notification_routes")
    channel = models.CharField(max_length=200, help_text="Slack channel id, or `<team-id>/<channel-id>` in Teams.")
    event_types = models.JSONField(default=list, blank=True, help_text='Event types to send; ["*"] sends all.')
    min_severity = models.CharField(max_length=16, default="info")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} -> {self.channel}"

    def wants(self, event_type: str, severity: str) -> bool:
        order = {"info": 0, "warning": 1, "error": 2, "critical": 3}
        types: list[Any] = self.event_types or ["*"]
        matches = (
            "*" in types
            or event_type in types
            or any(isinstance(t, str) and t.endswith(".*") and event_type.startswith(t[:-1]) for t in types)
        )
        return self.is_active and matches and order.get(severity, 0) >= order.get(self.min_severity, 0)
