"""API clients, their credentials (API keys, client certificates), plans, idempotency records and usage.

Usage is the one table here that grows with traffic: `UsageRecord` is narrow and append-only (a BRIN
index on its time column on PostgreSQL, added by a migration) and `UsageDay` holds its daily roll-up,
which is what pages, the API's summaries and billing read. See `apps.gateway.usage`.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.models import BaseModel, OrganizationOwnedModel, OrganizationScopedQuerySet


class Plan(BaseModel):
    """How much a client may call: a sustained rate, a burst on top of it and a monthly quota."""

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    rate_per_minute = models.PositiveIntegerField(help_text="Sustained requests per minute.")
    burst = models.PositiveIntegerField(help_text="Requests that may arrive at once before the rate applies.")
    monthly_quota = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Requests per calendar month (UTC); empty for no quota."
    )
    is_default = models.BooleanField(default=False, help_text="Given to new clients.")

    class Meta:
        ordering = ("rate_per_minute", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("is_default",), condition=Q(is_default=True), name="gateway_one_default_plan"
            ),
            models.CheckConstraint(condition=Q(rate_per_minute__gt=0) & Q(burst__gt=0), name="gateway_plan_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class OrganizationLimit(BaseModel):
    """The plan that caps all of an organization's clients together (on top of each client's own)."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("organization",)

    def __str__(self) -> str:
        return f"{self.organization} on {self.plan}"


class ClientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class ApiClient(OrganizationOwnedModel):
    """A machine that calls the API for an organization: a CI system, an ERP, a partner's integration."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The person answerable for this client.",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="clients")
    allowed_scopes = models.JSONField(default=list, blank=True, help_text="Scopes its credentials may carry.")
    ip_allowlist = models.JSONField(
        default=list, blank=True, help_text="CIDR blocks it may call from; empty allows any address."
    )
    status = models.CharField(max_length=16, choices=ClientStatus.choices, default=ClientStatus.ACTIVE)
    request_transform = models.JSONField(
        default=dict, blank=True, help_text="Per action (or `*`): steps turning this client's input into the action's."
    )
    response_transform = models.JSONField(
        default=dict, blank=True, help_text="Per action (or `*`): steps turning the action's output into this client's."
    )
    # The OAuth2 provider (identity) registers applications by client_id; a gateway client is attached to one
    # by that id, so tokens it issues meet the same plan, scopes and allow-list as the client's API keys.
    oauth_client_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ("organization", "name")
        constraints = [
            models.UniqueConstraint(fields=("organization", "name"), name="gateway_apiclient_name_unique"),
            models.UniqueConstraint(
                fields=("oauth_client_id",), condition=~Q(oauth_client_id=""), name="gateway_apiclient_oauth_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KeyEnvironment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class ApiKey(OrganizationOwnedModel):
    """A bearer secret of one client. Only the SHA-256 of the secret is kept (see `credentials.py`)."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=120)
    key_id = models.CharField(max_length=16, unique=True, editable=False, help_text="The public part of the key.")
    environment = models.CharField(max_length=8, choices=KeyEnvironment.choices, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_by_type = models.CharField(max_length=32, blank=True, help_text="user or api_client")
    created_by_id = models.CharField(max_length=64, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by", editable=False
    )

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("client", "-created_at"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        return f"nofx_{self.environment}_{self.key_id}"

    def status_at(self, moment: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= moment:
            return "expired"
        return "active"

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())


class CertificateAuthority(OrganizationOwnedModel):
    """A CA of the organization: client certificates it signs may be registered to the organization's clients.

    nginx verifies presented certificates against the bundle of every organization's CAs
    (`manage.py write_client_ca_bundle`); the app then maps the exact certificate to one client.
    """

    name = models.CharField(max_length=120)
    certificate_pem = models.TextField()
    fingerprint_sha256 = models.CharField(max_length=64, editable=False)
    subject = models.CharField(max_length=500, editable=False)
    not_after = models.DateTimeField(editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("organization", "name")
        constraints = [
            models.UniqueConstraint(fields=("organization", "fingerprint_sha256"), name="gateway_ca_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ClientCertificate(OrganizationOwnedModel):
    """An mTLS identity: the SHA-256 fingerprint of one certificate, registered to one client."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="certificates")
    name = models.CharField(max_length=120)
    fingerprint_sha256 = models.CharField(max_length=64, help_text="Lower-case hex, no colons.")
    subject = models.CharField(max_length=500, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            # One live registration per certificate, so a fingerprint always names at most one client.
            models.UniqueConstraint(
                fields=("fingerprint_sha256",), condition=Q(revoked_at__isnull=True), name="gateway_cert_fp_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint_sha256[:16]}…)"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.not_after is not None and self.not_after <= timezone.now():
            return "expired"
        return "active"


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an `Idempotency-Key`, kept for replays (see `idempotency.py`)."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("client", "key"), name="gateway_idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class CredentialKind(models.TextChoices):
    API_KEY = "api_key", "API key"
    MTLS = "mtls", "Client certificate"
    OAUTH2 = "oauth2", "OAuth2 token"


class UsageRecord(models.Model):
    """One call through the gateway. Append-only and narrow: written on every call, read mostly in bulk."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    # No foreign-key constraints: the inserts stay cheap, and usage outlives what it describes.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    client = models.ForeignKey(ApiClient, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    credential = models.CharField(max_length=8, choices=CredentialKind.choices)
    key_id = models.CharField(max_length=16, blank=True)
    method = models.CharField(max_length=8)
    operation = models.CharField(max_length=160, help_text="The route name, or `connector:<id>/<action>`.")
    status_code = models.PositiveSmallIntegerField()
    latency_us = models.PositiveIntegerField(help_text="Time spent in the application, in microseconds.")
    bytes_in = models.PositiveIntegerField()
    bytes_out = models.PositiveIntegerField()
    request_id = models.CharField(max_length=128, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=("organization", "-occurred_at", "-id"), name="gateway_usage_org_time")]

    def __str__(self) -> str:
        return f"{self.method} {self.operation} {self.status_code}"


class UsageDay(models.Model):
    """One client's calls on one UTC day, rolled up from `UsageRecord` by a periodic task."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    calls = models.PositiveBigIntegerField(default=0)
    client_errors = models.PositiveBigIntegerField(default=0, help_text="4xx answers other than 429.")
    throttled = models.PositiveBigIntegerField(default=0, help_text="429 answers.")
    server_errors = models.PositiveBigIntegerField(default=0)
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    latency_us_total = models.PositiveBigIntegerField(default=0)
    latency_us_max = models.PositiveBigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-day", "client")
        constraints = [models.UniqueConstraint(fields=("client", "day"), name="gateway_usageday_unique")]
        indexes = [models.Index(fields=("organization", "-day"))]

    def __str__(self) -> str:
        return f"{self.client_id} on {self.day}: {self.calls}"

    @property
    def average_latency_ms(self) -> float:
        return round(self.latency_us_total / self.calls / 1000, 2) if self.calls else 0.0
