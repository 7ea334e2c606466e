"""Compliance: framework outlines, assessments with per-requirement results, evidence, findings, control checks
and the daily score."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.utils import timezone

from apps.core.models import BaseModel, OrganizationOwnedModel, OrganizationScopedQuerySet


def evidence_storage() -> Storage:
    """Evidence lives in its own storage, never under MEDIA_URL; downloads go through permission checks."""
    return storages["evidence"]


class Framework(BaseModel):
    """A compliance framework outline, loaded from apps/compliance/frameworks/<code>.yaml."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Requirement(BaseModel):
    """One requirement (criterion, control) of a framework, and the automated checks that give evidence of it."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="requirements")
    code = models.CharField(max_length=40)
    section = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    checks = models.JSONField(default=list, blank=True, help_text="Codes of control checks that test it.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("framework", "position")
        constraints = [models.UniqueConstraint(fields=("framework", "code"), name="compliance_requirement_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class ResultStatus(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    NOT_TESTED = "not_tested", "Not tested"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class AssessmentType(models.TextChoices):
    CONTINUOUS = "continuous", "Continuous monitoring"
    SELF_ASSESSMENT = "self_assessment", "Self-assessment"
    INTERNAL_AUDIT = "internal_audit", "Internal audit"
    EXTERNAL_AUDIT = "external_audit", "External audit"


class AssessmentStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class Assessment(OrganizationOwnedModel):
    """An organization's assessment against one framework (an audit, or continuous monitoring)."""

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="+")
    assessment_type = models.CharField(max_length=20, choices=AssessmentType.choices)
    status = models.CharField(max_length=16, choices=AssessmentStatus.choices, default=AssessmentStatus.IN_PROGRESS)
    scope = models.TextField(blank=True, help_text="Systems, locations and services covered.")
    findings = models.TextField(blank=True, help_text="The auditor's summary of what was found.")
    recommendations = models.TextField(blank=True)
    score = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    auditor = models.CharField(max_length=200, blank=True)
    audit_date = models.DateField(null=True, blank=True)
    next_audit_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.framework} {self.get_assessment_type_display()} ({self.organization_id})"

    @property
    def is_open(self) -> bool:
        return self.status != AssessmentStatus.COMPLETED


class RequirementResultQuerySet(OrganizationScopedQuerySet):
    organization_field = "assessment__organization"


class RequirementResult(BaseModel):
    """How one requirement fared in one assessment; automated results come from the control checks."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="results")
    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ResultStatus.choices, default=ResultStatus.NOT_TESTED)
    automated = models.BooleanField(
        default=True, help_text="Set by control checks; a manual result is never overwritten."
    )
    notes = models.TextField(blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    objects = RequirementResultQuerySet.as_manager()

    class Meta:
        ordering = ("requirement__position",)
        constraints = [models.UniqueConstraint(fields=("assessment", "requirement"), name="compliance_result_unique")]

    def __str__(self) -> str:
        return f"{self.requirement_id}: {self.status}"


class Evidence(OrganizationOwnedModel):
    """A file that shows a control works, with its SHA-256 and when it stops being valid."""

    assessment = models.ForeignKey(
        Assessment, null=True, blank=True, on_delete=models.SET_NULL, related_name="evidence"
    )
    requirement = models.ForeignKey(Requirement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(storage=evidence_storage, upload_to="evidence/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    collected_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-collected_at",)
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.filename

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class FindingSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    ACCEPTED = "accepted", "Risk accepted"


class Finding(OrganizationOwnedModel):
    """A gap to fix: opened by a failing control check or by an auditor, with an owner and a due date."""

    assessment = models.ForeignKey(
        Assessment, null=True, blank=True, on_delete=models.SET_NULL, related_name="finding_set"
    )
    requirement = models.ForeignKey(Requirement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    check_code = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=FindingSeverity.choices)
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ("status", "due_date")
        indexes = [models.Index(fields=("organization", "status", "check_code"))]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == FindingStatus.OPEN and self.due_date < timezone.localdate()


class ControlCheckResult(OrganizationOwnedModel):
    """One run of one automated control check for one organization."""

    check_code = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ResultStatus.choices)
    reason = models.TextField(blank=True)
    measured = models.JSONField(default=dict, blank=True)
    ran_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-ran_at",)
        indexes = [models.Index(fields=("organization", "check_code", "-ran_at"))]

    def __str__(self) -> str:
        return f"{self.check_code}: {self.status}"


class ComplianceScore(OrganizationOwnedModel):
    """The day's score, kept for the trend chart. `framework` empty: all control checks together."""

    framework = models.ForeignKey(Framework, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    score = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    not_tested = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("date",)
        constraints = [
            models.UniqueConstraint(fields=("organization", "framework", "date"), name="compliance_score_daily"),
            models.UniqueConstraint(
                fields=("organization", "date"),
                condition=models.Q(framework__isnull=True),
                name="compliance_score_daily_overall",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.score}"


def as_percent(passed: int, failed: int) -> Any:
    """The documented rule: passed / (passed + failed), as a percentage with one decimal; None if none tested."""
    from decimal import ROUND_HALF_UP, Decimal

    if passed + failed == 0:
        return None
    return (Decimal(100 * passed) / Decimal(passed + failed)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
