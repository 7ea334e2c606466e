"""Deployment regions (cells), residency rules, the replicated global directory and its outbox, backups,
drills, failovers, health samples and organization moves.

Each region runs a whole deployment with its own database; these tables exist in every region's database.
`Region` and `DirectoryEntry` rows are replicated between regions through the outbox; everything else
describes the local region only.
"""

from __future__ import annotations

from django.db import models

from apps.accounts.models import region_code_validator
from apps.core.models import BaseModel


class RegionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    STANDBY = "standby", "Standby"


class Region(BaseModel):
    """One deployment region. Replicated: every region knows every other one (its URL, status, certifications)."""

    code = models.CharField(max_length=32, unique=True, validators=[region_code_validator])
    name = models.CharField(max_length=100)
    public_url = models.URLField(help_text="Where customers reach this region; foreign requests are redirected here.")
    replication_url = models.URLField(
        blank=True,
        help_text="Where peers deliver directory changes; empty means the public URL.",
    )
    certifications = models.JSONField(
        default=list, blank=True, help_text='Compliance certifications, e.g. ["SOC 2", "ISO 27001", "GDPR"].'
    )
    status = models.CharField(max_length=16, choices=RegionStatus.choices, default=RegionStatus.STANDBY)
    status_reason = models.CharField(max_length=300, blank=True)
    # Informational mirrors of the deployment's database endpoint record (`database_endpoints.py`); the
    # application connects through that record, which survives the loss of this database.
    primary_database = models.CharField(max_length=200, blank=True, help_text="host:port/dbname of the primary.")
    standby_database = models.CharField(max_length=200, blank=True, help_text="host:port/dbname of the standby.")
    database_generation = models.PositiveIntegerField(default=0, help_text="Raised by every failover or failback.")
    last_failover_at = models.DateTimeField(null=True, blank=True)
    # Last-writer-wins version of the replicated fields (microseconds, raised on every change).
    directory_version = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def accepts_organizations(self) -> bool:
        return self.status == RegionStatus.ACTIVE

    @property
    def peer_endpoint(self) -> str:
        return (self.replication_url or self.public_url).rstrip("/") + "/regions/replication/"


class RuleEffect(models.TextChoices):
    ALLOW = "allow", "Allow only matching locations"
    DENY = "deny", "Deny matching locations"


class ResidencyRule(BaseModel):
    """Where the data of organizations homed in a region may be sent.

    `location_pattern` matches a declared location code with shell-style wildcards (`eu-*`, `us-east`, `*`).
    A deny rule that matches refuses; when allow rules exist, a location must match one of them. A rule with
    an organization applies to that organization only, on top of the region's own rules.
    """

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="residency_rules")
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every organization homed in the region.",
    )
    effect = models.CharField(max_length=8, choices=RuleEffect.choices)
    location_pattern = models.CharField(max_length=64)
    reason = models.CharField(max_length=300, help_text="Shown in the refusal, e.g. 'GDPR: EU/EEA only'.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("region__code", "effect", "location_pattern")

    def __str__(self) -> str:
        return f"{self.region.code}: {self.effect} {self.location_pattern}"


class DirectoryKind(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    PUBLISHER = "publisher", "Publisher"
    EXTENSION = "extension", "Extension"
    REGION_HEALTH = "region_health", "Region health"


class DirectoryEntry(BaseModel):
    """One replicated fact of the global directory: an organization's home region, a publisher, a catalog entry.

    Rows are whole states, versioned: applying a change keeps the higher `version`, so delivering a message
    once or many times, in any order, ends in the same row.
    """

    kind = models.CharField(max_length=32, choices=DirectoryKind.choices)
    key = models.CharField(max_length=64, help_text="The id of the thing in its home region.")
    slug = models.CharField(max_length=100, blank=True, db_index=True)
    region_code = models.CharField(max_length=32, help_text="The region that holds the thing's data.")
    data = models.JSONField(default=dict, blank=True)
    version = models.BigIntegerField()
    origin_region_code = models.CharField(max_length=32, help_text="The region that wrote this version.")
    is_deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ("kind", "slug")
        constraints = [models.UniqueConstraint(fields=("kind", "key"), name="regions_directoryentry_kind_key")]
        indexes = [models.Index(fields=("kind", "slug"))]
        verbose_name_plural = "directory entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.slug or self.key} in {self.region_code}"


class OutboxMessage(models.Model):
    """A directory change waiting to reach peer regions; written in the same transaction as the change."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=64)
    version = models.BigIntegerField()
    payload = models.JSONField(help_text="The whole replicated state of the entry at this version.")
    origin_region_code = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.kind} {self.key} v{self.version}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"


class OutboxDelivery(models.Model):
    """One message owed to one peer region. Retried with back-off until the peer answers 2xx."""

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("message", "region"), name="regions_delivery_unique")]
        indexes = [models.Index(fields=("region", "status", "next_attempt_at"))]
        verbose_name_plural = "outbox deliveries"

    def __str__(self) -> str:
        return f"{self.message} to {self.region_id}: {self.status}"


class BackupStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file removed by retention)"


class BackupRecord(BaseModel):
    """One backup of this region's database: where it is, its checksum and what it contained."""

    region_code = models.CharField(max_length=32, db_index=True)
    method = models.CharField(max_length=16, help_text="pg_dump (custom format) or sqlite_copy.")
    status = models.CharField(max_length=16, choices=BackupStatus.choices, default=BackupStatus.RUNNING)
    location = models.CharField(max_length=32, help_text="Declared location of the backup storage.")
    file_name = models.CharField(max_length=300, blank=True, help_text="Relative to the region's backup directory.")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    data_as_of = models.DateTimeField(null=True, blank=True, help_text="The moment of the snapshot the backup holds.")
    row_counts = models.JSONField(default=dict, blank=True, help_text="Rows per table inside the snapshot.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at",)
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.region_code} backup {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class DrillKind(models.TextChoices):
    RESTORE = "restore", "Restore drill"
    FAILOVER = "failover", "Failover"
    FAILBACK = "failback", "Failback"


class DrillRecord(BaseModel):
    """A measured recovery: a restore drill, a failover or a failback, with its RPO and RTO."""

    region_code = models.CharField(max_length=32, db_index=True)
    kind = models.CharField(max_length=16, choices=DrillKind.choices)
    backup = models.ForeignKey(BackupRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="drills")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    rpo_seconds = models.FloatField(null=True, blank=True, help_text="Age of the newest recovered data.")
    rto_seconds = models.FloatField(null=True, blank=True, help_text="Time until a verified, serving database.")
    details = models.JSONField(default=dict, blank=True, help_text="Steps with timings, counts, LSNs, errors.")

    class Meta:
        ordering = ("-started_at",)
        get_latest_by = "started_at"

    def __str__(self) -> str:
        outcome = "ok" if self.ok else "FAILED"
        return f"{self.get_kind_display()} in {self.region_code} at {self.started_at:%Y-%m-%d %H:%M} ({outcome})"


class RegionHealthSample(models.Model):
    """A region's health at one moment: sampled locally every minute, replicated to peers for the operator page."""

    id = models.BigAutoField(primary_key=True)
    region_code = models.CharField(max_length=32)
    sampled_at = models.DateTimeField()
    database_ok = models.BooleanField()
    database_latency_ms = models.FloatField(null=True, blank=True)
    replica_lag_seconds = models.FloatField(null=True, blank=True, help_text="Empty when no standby reports.")
    replica_lag_bytes = models.BigIntegerField(null=True, blank=True)
    broker_ok = models.BooleanField()
    queue_depth = models.IntegerField(null=True, blank=True)
    requests = models.PositiveIntegerField(default=0, help_text="Requests in the sampled window.")
    error_rate = models.FloatField(null=True, blank=True, help_text="Share of 5xx answers in the window.")
    latency_p95_ms = models.FloatField(null=True, blank=True)
    outbox_pending = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-sampled_at",)
        indexes = [models.Index(fields=("region_code", "-sampled_at"))]

    def __str__(self) -> str:
        return f"{self.region_code} at {self.sampled_at:%H:%M:%S}"


class MoveStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    EXPORTED = "exported", "Exported"
    IMPORTED = "imported", "Imported into the target"
    VERIFIED = "verified", "Counts and hashes verified"
    SWITCHED = "switched", "Switched to the target"
    PURGED = "purged", "Purged from the source"
    FAILED = "failed", "Failed"


class OrganizationMove(BaseModel):
    """Moving one organization to another home region: export, import, verify, switch, purge - each audited."""

    organization_id = models.UUIDField(db_index=True)
    organization_slug = models.CharField(max_length=60)
    source_region_code = models.CharField(max_length=32)
    target_region_code = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=MoveStatus.choices, default=MoveStatus.REQUESTED)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bundle_file = models.CharField(max_length=300, blank=True)
    bundle_sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per table in the export.")
    hashes = models.JSONField(default=dict, blank=True, help_text="SHA-256 per table of the exported rows.")
    target_counts = models.JSONField(default=dict, blank=True)
    target_hashes = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.organization_slug}: {self.source_region_code} -> {self.target_region_code} ({self.status})"
