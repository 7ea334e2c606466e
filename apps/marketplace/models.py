"""The marketplace: publishers, extensions and their immutable versions, installations, reviews, analytics.

An `Extension` is a catalog entry owned by a `Publisher` (which belongs to an organization); each upload is
an `ExtensionVersion` that goes through the pipeline and, once published, never changes. An `Installation`
ties an extension's version to a customer organization.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.fields import EncryptedJSONField, EncryptedTextField
from apps.core.models import BaseModel, OrganizationOwnedModel
from nofx_sdk.rules.manifest import ExtensionType, PricingModel, SupportLevel


class VerificationState(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    PENDING = "pending", "Pending review"
    VERIFIED = "verified", "Verified"


class Publisher(OrganizationOwnedModel):
    """An organization acting as a publisher of extensions. Its slug is the first part of every extension id."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="publisher")
    slug = models.SlugField(max_length=60, unique=True, help_text="The `acme` in `acme.jira-sync`.")
    name = models.CharField(max_length=120)
    website = models.URLField(blank=True)
    verification = models.CharField(
        max_length=16, choices=VerificationState.choices, default=VerificationState.UNVERIFIED
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    accepted_terms_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verification == VerificationState.VERIFIED


class Category(BaseModel):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class ExtensionQuerySet(models.QuerySet["Extension"]):
    def listed(self) -> ExtensionQuerySet:
        """What the public catalog shows: extensions with a published version."""
        return self.filter(latest_version__isnull=False, is_delisted=False)


class Extension(BaseModel):
    """A catalog entry. Its descriptive fields mirror the manifest of its latest published version."""

    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="extensions")
    slug = models.CharField(max_length=100, unique=True, help_text="The manifest id, e.g. `acme.jira-sync`.")
    type = models.CharField(max_length=16, choices=[(t.value, t.value.title()) for t in ExtensionType])
    name = models.CharField(max_length=80)
    summary = models.TextField(blank=True, help_text="The manifest's description.")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tags = models.JSONField(default=list, blank=True)
    # Tags joined by spaces, for text search.
    tags_text = models.CharField(max_length=400, blank=True, editable=False)
    pricing = models.CharField(
        max_length=16,
        choices=[(p.value, p.value.replace("_", " ").title()) for p in PricingModel],
        default=PricingModel.FREE,
        help_text="The cheapest plan's model: free unless every plan is paid.",
    )
    support_level = models.CharField(
        max_length=16, choices=[(s.value, s.value.title()) for s in SupportLevel], default=SupportLevel.COMMUNITY
    )
    is_certified = models.BooleanField(default=False, help_text="The latest published version passed certification.")
    is_deprecated = models.BooleanField(default=False)
    is_delisted = models.BooleanField(default=False, help_text="Hidden from the catalog by an operator.")
    latest_version = models.ForeignKey(
        "ExtensionVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Counters kept by services, so the catalog never aggregates on read.
    active_installs = models.PositiveIntegerField(default=0)
    total_installs = models.PositiveIntegerField(default=0)
    downloads = models.PositiveBigIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    bayesian_rating = models.FloatField(default=0.0)
    # Everything but text relevance that ranks an extension (rating, installs, recency, penalties), 0..1.
    quality_score = models.FloatField(default=0.0, db_index=True)
    ranking_penalty = models.FloatField(default=1.0)
    # Kept up to date by services on PostgreSQL; a GIN index is created by migration there.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = ExtensionQuerySet.as_manager()

    class Meta:
        db_table = "marketplace_extensions"
        ordering = ("name",)
        indexes = [
            models.Index(fields=["type", "pricing"], name="mkt_ext_type_pricing"),
            models.Index(fields=["-active_installs"], name="mkt_ext_popularity"),
            models.Index(fields=["-bayesian_rating"], name="mkt_ext_rating"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None


class VersionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VALIDATING = "validating", "Validating"
    SCANNING = "scanning", "Scanning"
    TESTING = "testing", "Testing"
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"
    QUARANTINED = "quarantined", "Quarantined"
    PUBLISHED = "published", "Published"
    YANKED = "yanked", "Yanked"


class VersionChannel(models.TextChoices):
    """Where a reviewed but unpublished version may be tried: only in its publisher's own organization."""

    DEV = "dev", "Development"
    STAGING = "staging", "Staging"


# The statuses in which the pipeline is still working on a version.
IN_PIPELINE = (VersionStatus.PENDING, VersionStatus.VALIDATING, VersionStatus.SCANNING, VersionStatus.TESTING)


def package_path(instance: ExtensionVersion, filename: str) -> str:
    return f"marketplace/packages/{instance.extension.slug}/{instance.version}/{instance.sha256}.zip"


class ExtensionVersion(BaseModel):
    """One uploaded version. The package, its hash, signature and manifest never change once stored."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    # Sort keys: versions compare by semver, not as strings.
    version_major = models.PositiveIntegerField(default=0)
    version_minor = models.PositiveIntegerField(default=0)
    version_patch = models.PositiveIntegerField(default=0)
    is_prerelease = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.PENDING)
    manifest = models.JSONField(default=dict, blank=True)
    permissions = models.JSONField(default=dict, blank=True, help_text="scopes, egress, dataClasses")
    package = models.FileField(upload_to=package_path, max_length=300)
    package_size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    signature = models.CharField(max_length=128, blank=True, help_text="Platform Ed25519 signature of the SHA-256.")
    signing_key_id = models.CharField(max_length=32, blank=True)
    findings = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=dict, blank=True, help_text="Per pipeline step: status and when.")
    status_reason = models.TextField(blank=True)
    ruleset_fingerprint = models.CharField(max_length=64, blank=True)
    auto_publish = models.BooleanField(default=True)
    channel = models.CharField(
        max_length=16,
        choices=VersionChannel.choices,
        blank=True,
        help_text="A pre-release channel: the publisher's own organization may install the version before it is "
        "published.",
    )
    changelog = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    certified_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    yanked_at = models.DateTimeField(null=True, blank=True)
    downloads = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "extension_versions"
        ordering = ("-version_major", "-version_minor", "-version_patch", "-created_at")
        constraints = [
            models.UniqueConstraint(fields=("extension", "version"), name="mkt_version_unique"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="mkt_version_status")]

    def __str__(self) -> str:
        return f"{self.extension.slug}@{self.version}"

    @property
    def is_installable(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    def blocking_findings(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("blocking")]


class RuleMode(models.TextChoices):
    """How a rule's findings count.

    - monitor: recorded and shown, never blocks;
    - enforced: a finding blocks the version (rejects or quarantines it, as the rule says);
    - required: enforced, and the check must also complete: if it cannot run to a conclusion (e.g. the
      app's server cannot be reached), the version is blocked rather than let through.
    """

    MONITOR = "monitor", "Monitor only"
    ENFORCED = "enforced", "Enforced"
    REQUIRED = "required", "Required"


class RuleSetting(BaseModel):
    """An operator's switch for one pipeline rule. Rules without a row use their default mode."""

    rule_id = models.CharField(max_length=16, unique=True)
    mode = models.CharField(max_length=16, choices=RuleMode.choices)
    note = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("rule_id",)

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.mode}"


class InstallationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    INSTALLING = "installing", "Installing"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Failed"
    DISABLED = "disabled", "Disabled"
    UNINSTALLED = "uninstalled", "Uninstalled"


# An organization has at most one installation of an extension in these statuses.
LIVE_INSTALLATION_STATUSES = (
    InstallationStatus.PENDING,
    InstallationStatus.INSTALLING,
    InstallationStatus.ACTIVE,
    InstallationStatus.FAILED,
    InstallationStatus.DISABLED,
)


class Installation(OrganizationOwnedModel):
    """An extension installed in an organization, at one version, with the permissions granted at consent."""

    extension = models.ForeignKey(Extension, on_delete=models.PROTECT, related_name="installations")
    version = models.ForeignKey(ExtensionVersion, on_delete=models.PROTECT, related_name="installations")
    status = models.CharField(max_length=16, choices=InstallationStatus.choices, default=InstallationStatus.PENDING)
    status_reason = models.TextField(blank=True)
    plan = models.CharField(max_length=40, blank=True)
    granted_permissions = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret configuration.")
    secret_config = EncryptedJSONField(null=True, blank=True, help_text="Configuration fields marked secret.")
    # A newer version that asks for more permissions waits here for an admin's consent.
    pending_version = models.ForeignKey(
        ExtensionVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_prefix = models.CharField(max_length=16, blank=True)
    token_issued_at = models.DateTimeField(null=True, blank=True)
    webhook_secret = EncryptedTextField(blank=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region_code = models.CharField(max_length=32, blank=True, help_text="The organization's home region at install.")
    activated_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_extension_installations"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("organization", "extension"),
                condition=~Q(status="uninstalled"),
                name="mkt_installation_one_live_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.extension_id} in {self.organization_id} ({self.status})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retrying)"
    GAVE_UP = "gave_up", "Gave up"


class WebhookDelivery(OrganizationOwnedModel):
    """One signed webhook to an installed extension's app, retried with backoff until it is acknowledged."""

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} -> {self.installation_id} ({self.status})"


class ReviewStatus(models.TextChoices):
    VISIBLE = "visible", "Visible"
    HIDDEN = "hidden", "Hidden by moderation"


class Review(OrganizationOwnedModel):
    """An organization's review of an extension: one per organization, tied to the version it used."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="reviews")
    version = models.ForeignKey(ExtensionVersion, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    title = models.CharField(max_length=120, blank=True)
    body = models.TextField(blank=True, max_length=5000)
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.VISIBLE)
    edited_at = models.DateTimeField(null=True, blank=True)
    reply = models.TextField(blank=True, max_length=5000, help_text="The publisher's public reply.")
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("organization", "extension"), name="mkt_review_one_per_org"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="mkt_review_rating_range"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.extension_id}"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    UPHELD = "upheld", "Upheld (review hidden)"
    DISMISSED = "dismissed", "Dismissed"


class ReviewReport(OrganizationOwnedModel):
    """A member of `organization` reports a review as abusive or off-topic; operators decide in admin."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("review", "organization"), name="mkt_report_once_per_org"),
        ]

    def __str__(self) -> str:
        return f"report on {self.review_id} ({self.status})"


class EventKind(models.TextChoices):
    INSTALL = "install", "Install"
    UNINSTALL = "uninstall", "Uninstall"
    UPDATE = "update", "Update"
    USAGE = "usage", "Usage"
    DOWNLOAD = "download", "Download"
    REVENUE = "revenue", "Revenue"


class AnalyticsEvent(BaseModel):
    """One countable thing that happened to an extension, summed per day for its publisher."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(ExtensionVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    day = models.DateField(db_index=True)
    region_code = models.CharField(max_length=32, blank=True)
    quantity = models.BigIntegerField(default=1)
    amount_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    # Callers that may repeat (usage reports, billing webhooks) pass their own id; a repeat is ignored.
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        ordering = ("-day",)
        indexes = [models.Index(fields=["extension", "day", "kind"], name="mkt_event_ext_day_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.extension_id} {self.day}"


class ProblemStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class ProblemKind(models.TextChoices):
    BROKEN = "broken", "It does not work as described"
    SECURITY = "security", "A security or privacy concern"
    BILLING = "billing", "A billing or pricing problem"
    OTHER = "other", "Something else"


class ProblemReport(OrganizationOwnedModel):
    """A customer organization tells an extension's publisher about a problem; the publisher's owners are mailed."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="problem_reports")
    installation = models.ForeignKey(
        Installation, null=True, blank=True, on_delete=models.SET_NULL, related_name="problem_reports"
    )
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=ProblemKind.choices, default=ProblemKind.BROKEN)
    subject = models.CharField(max_length=120)
    description = models.TextField(max_length=5000)
    status = models.CharField(max_length=16, choices=ProblemStatus.choices, default=ProblemStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set once the publisher's owners were mailed, so a repeated task does not mail them twice.
    publisher_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["extension", "status"], name="mkt_problem_ext_status")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.status})"
