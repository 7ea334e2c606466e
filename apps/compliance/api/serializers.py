from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from apps.accounts.models import User
from apps.compliance.models import (
    Assessment,
    AssessmentType,
    Evidence,
    Finding,
    FindingSeverity,
    FindingStatus,
    Framework,
    RequirementResult,
    ResultStatus,
)
from apps.core.scoping import OrganizationScopedRelatedField


class RequirementResultSerializer(serializers.ModelSerializer[RequirementResult]):
    requirement = serializers.CharField(source="requirement.code", read_only=True)
    title = serializers.CharField(source="requirement.title", read_only=True)
    section = serializers.CharField(source="requirement.section", read_only=True)

    class Meta:
        model = RequirementResult
        fields = ("requirement", "title", "section", "status", "automated", "notes", "checked_at")
        read_only_fields = fields


class RequirementResultInputSerializer(serializers.Serializer[Any]):
    requirement = serializers.CharField(help_text="The requirement's code within the framework, e.g. `CC6.1`.")
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class AssessmentSerializer(serializers.ModelSerializer[Assessment]):
    framework = serializers.SlugRelatedField(slug_field="code", queryset=Framework.objects.all())
    assessment_type = serializers.ChoiceField(choices=AssessmentType.choices)

    class Meta:
        model = Assessment
        fields = (
            "id",
            "framework",
            "assessment_type",
            "status",
            "scope",
            "findings",
            "recommendations",
            "score",
            "auditor",
            "audit_date",
            "next_audit_date",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "score", "created_at", "updated_at")


class AssessmentUpdateSerializer(serializers.ModelSerializer[Assessment]):
    class Meta:
        model = Assessment
        fields = ("status", "scope", "findings", "recommendations", "auditor", "audit_date", "next_audit_date")


class MemberField(serializers.PrimaryKeyRelatedField[User]):
    """A person by id; the service checks they belong to the organization."""

    def get_queryset(self) -> Any:
        return User.objects.filter(is_active=True)


class FindingSerializer(serializers.ModelSerializer[Finding]):
    requirement = serializers.CharField(source="requirement.code", read_only=True, default=None)
    owner = MemberField(allow_null=True, required=False)
    severity = serializers.ChoiceField(choices=FindingSeverity.choices, required=False)
    status = serializers.ChoiceField(choices=FindingStatus.choices, required=False)

    class Meta:
        model = Finding
        fields = (
            "id",
            "title",
            "description",
            "severity",
            "status",
            "owner",
            "due_date",
            "assessment",
            "requirement",
            "check_code",
            "resolution",
            "closed_at",
            "created_at",
        )
        read_only_fields = ("id", "title", "description", "assessment", "check_code", "closed_at", "created_at")


class EvidenceSerializer(serializers.ModelSerializer[Evidence]):
    assessment = OrganizationScopedRelatedField(queryset=Assessment.objects.all(), allow_null=True, required=False)
    requirement = serializers.CharField(
        required=False, allow_blank=True, write_only=True, help_text="Requirement code in the assessment's framework."
    )
    file = serializers.FileField(write_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = (
            "id",
            "assessment",
            "requirement",
            "file",
            "filename",
            "content_type",
            "size",
            "sha256",
            "description",
            "collected_at",
            "expires_at",
            "download_url",
        )
        read_only_fields = ("id", "filename", "content_type", "size", "sha256", "collected_at", "download_url")

    def get_download_url(self, obj: Evidence) -> str:
        return reverse("compliance:evidence_download", args=[obj.pk])
