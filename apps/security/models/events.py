"""Security events (what a detector saw), the responses taken, and the state those responses leave behind."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.fields import EncryptedTextField
from apps.core.models import BaseModel, OrganizationScopedQuerySet


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class EventStatus(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    RESOLVED = "resolved", "Resolved"
    FALSE_POSITIVE = "false_positive", "False positive"


OPEN_STATUSES = (EventStatus.OPEN, EventStatus.INVESTIGATING)


class SecurityEvent(BaseModel):
    """Something a detector judged suspicious, with what was done about it.

    Platform-wide events (an address attacking many accounts of unknown organizations) have no
    organization; an organization sees only its own.
    """

    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(max_length=64, db_index=True, help_text="The detector's name, e.g. brute_force.")
    severity = models.CharField(max_length=16, choices=Severity.choices, db_index=True)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.OPEN, db_index=True)
    title = models.CharField(max_length=200)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resource_type = models.CharField(max_length=64, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="The facts the detector measured (ids, counts).")
    detection_method = models.CharField(max_length=100, help_text="Which rule fired and how (inline or scheduled).")
    dedup_key = models.CharField(max_length=200, db_index=True, editable=False)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-last_seen_at",)
        indexes = [
            models.Index(fields=("organization", "status", "-last_seen_at")),
            models.Index(fields=("dedup_key", "status")),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.event_type} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class SecurityEventNote(BaseModel):
    """An operator's note on an event: what they checked, who they called."""

    event = models.ForeignKey(SecurityEvent, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"Note on {self.event_id}"


class ResponseKind(models.TextChoices):
    NOTIFY = "notify", "Notify (email, webhook, in-app)"
    REQUIRE_REAUTH = "require_reauth", "Require re-authentication"
    LOCK_ACCOUNT = "lock_account", "Lock account (cool-off)"
    REVOKE_SESSIONS = "revoke_sessions", "Revoke sessions"
    REVOKE_TOKENS = "revoke_tokens", "Revoke OAuth tokens"
    REVOKE_API_KEYS = "revoke_api_keys", "Revoke API keys"
    BLOCK_IP = "block_ip", "Block IP address"


class ResponseStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    NOT_AVAILABLE = "not_available", "Not available"
    FAILED = "failed", "Failed"
    REVERSED = "reversed", "Reversed"


class ResponseAction(BaseModel):
    """One automated (or operator-triggered) response taken on an event. Reversible by an operator."""

    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(SecurityEvent, on_delete=models.CASCADE, related_name="responses")
    kind = models.CharField(max_length=32, choices=ResponseKind.choices)
    status = models.CharField(max_length=16, choices=ResponseStatus.choices)
    target = models.JSONField(default=dict, blank=True, help_text="What it acted on: user id, address, ids.")
    detail = models.TextField(blank=True)
    automatic = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.get_status_display()}"


class AccountLock(BaseModel):
    """A sign-in lock on one person, with a cool-off after which it lapses by itself."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(SecurityEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200)
    locked_until = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("user", "locked_until"))]

    def __str__(self) -> str:
        return f"Lock on {self.user_id} until {self.locked_until:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None and self.locked_until > timezone.now()


class ReauthRequirement(BaseModel):
    """Sessions that signed in before `required_at` must sign in again; cancelling it lets them be."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(SecurityEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    required_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-required_at",)

    def __str__(self) -> str:
        return f"Re-authentication of {self.user_id} since {self.required_at:%Y-%m-%d %H:%M}"


class SecurityNotification(BaseModel):
    """The in-app copy of a security alert, for one person."""

    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(SecurityEvent, on_delete=models.CASCADE, related_name="notifications")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Alert {self.event_id} for {self.recipient_id}"


class SecurityAlertChannel(BaseModel):
    """Where an organization wants security alerts delivered besides in-app: a signed webhook, and email."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    email_enabled = models.BooleanField(default=True)
    webhook_url = models.URLField(blank=True)
    webhook_secret = EncryptedTextField(blank=True, help_text="HMAC key for the X-NOFX-Signature header.")

    objects = OrganizationScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Alert channel of {self.organization_id}"


class LoginObservation(models.Model):
    """One sign-in attempt as the detectors saw it: the raw material of the login detectors.

    `account_key` is a SHA-256 of the normalised username so attempts at unknown accounts can be counted
    without storing what was typed.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField()
    ip_range = models.CharField(max_length=64, help_text="The /24 (IPv4) or /48 (IPv6) the address is in.")
    account_key = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    success = models.BooleanField()
    country = models.CharField(max_length=2, blank=True)
    asn = models.PositiveIntegerField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("-at",)
        indexes = [
            models.Index(fields=("ip", "at")),
            models.Index(fields=("account_key", "at")),
            models.Index(fields=("user", "success", "at")),
        ]

    def __str__(self) -> str:
        return f"{'ok' if self.success else 'failed'} login from {self.ip} at {self.at:%Y-%m-%d %H:%M}"


class DetectorState(models.Model):
    """Small per-subject state a detector keeps between observations (an EWMA baseline, a last seen address)."""

    id = models.BigAutoField(primary_key=True)
    detector = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("detector", "subject"), name="security_detectorstate_unique")]

    def __str__(self) -> str:
        return f"{self.detector}:{self.subject}"
