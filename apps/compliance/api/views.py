from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.compliance import services
from apps.compliance.api.filters import AssessmentFilterSet, EvidenceFilterSet, FindingFilterSet
from apps.compliance.api.serializers import (
    AssessmentSerializer,
    AssessmentUpdateSerializer,
    EvidenceSerializer,
    FindingSerializer,
    RequirementResultInputSerializer,
    RequirementResultSerializer,
)
from apps.compliance.models import Assessment, Evidence, Finding, Requirement, RequirementResult
from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin

READ = "compliance.view"
WRITE = "compliance.manage"


@extend_schema(tags=["compliance"])
@extend_schema_view(
    partial_update=extend_schema(request=AssessmentUpdateSerializer, responses=AssessmentSerializer),
)
class AssessmentViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Assessment],
):
    """Your organization's compliance assessments (audits and continuous monitoring) against a framework."""

    queryset = Assessment.objects.select_related("framework")
    serializer_class = AssessmentSerializer
    filterset_class = AssessmentFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": READ, "retrieve": READ, "results": READ, "*": WRITE}
    http_method_names = ["get", "post", "patch", "head", "options"]
    extra_error_codes = (409, 422)

    def check_permissions(self, request: Request) -> None:
        # Reading results needs `compliance.view`; recording one needs `compliance.manage`.
        if getattr(self, "action", None) == "results" and request.method != "GET":
            self.required_permissions = {**self.required_permissions, "results": WRITE}
        super().check_permissions(request)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.create_assessment(organization=self.tenant, actor=self.actor, **data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assessment = self.get_object()
        payload = AssessmentUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.update_assessment(assessment=assessment, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(assessment).data)

    @extend_schema(
        methods=["GET"], responses=RequirementResultSerializer(many=True), description="Per-requirement results."
    )
    @extend_schema(
        methods=["POST"],
        request=RequirementResultInputSerializer,
        responses=RequirementResultSerializer,
        description="Record an assessor's result for one requirement (manual results are never overwritten).",
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def results(self, request: Request, pk: str | None = None) -> Response:
        assessment = self.get_object()
        if request.method == "GET":
            rows = RequirementResult.objects.filter(assessment=assessment).select_related("requirement")
            return Response(RequirementResultSerializer(rows.order_by("requirement__position"), many=True).data)
        payload = RequirementResultInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        requirement = Requirement.objects.filter(
            framework_id=assessment.framework_id, code=payload.validated_data["requirement"]
        ).first()
        if requirement is None:
            raise ValidationError({"requirement": ["No such requirement in this assessment's framework."]})
        result = services.record_requirement_result(
            assessment=assessment,
            requirement=requirement,
            status=payload.validated_data["status"],
            notes=payload.validated_data["notes"],
            actor=self.actor,
        )
        return Response(RequirementResultSerializer(result).data, status=status.HTTP_200_OK)


@extend_schema(tags=["compliance"])
class FindingViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Finding],
):
    """Gaps to fix, opened by failing control checks or auditors: assign an owner, move the due date, close."""

    queryset = Finding.objects.select_related("requirement")
    serializer_class = FindingSerializer
    filterset_class = FindingFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": READ, "retrieve": READ, "*": WRITE}
    http_method_names = ["get", "patch", "head", "options"]
    extra_error_codes = (422,)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.update_finding(
            finding=serializer.instance, actor=self.actor, **serializer.validated_data
        )


@extend_schema(tags=["compliance"])
class EvidenceViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Evidence],
):
    """Evidence files (multipart upload) with their SHA-256 and expiry. Download through `download_url`."""

    queryset = Evidence.objects.select_related("assessment")
    serializer_class = EvidenceSerializer
    filterset_class = EvidenceFilterSet
    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": READ, "retrieve": READ, "*": WRITE}
    extra_error_codes = (422,)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        upload = data.pop("file")
        assessment = data.pop("assessment", None)
        code = data.pop("requirement", "")
        requirement = None
        if code:
            if assessment is None:
                raise ValidationError({"requirement": ["Name the assessment whose framework the requirement is in."]})
            requirement = Requirement.objects.filter(framework_id=assessment.framework_id, code=code).first()
            if requirement is None:
                raise ValidationError({"requirement": ["No such requirement in the assessment's framework."]})
        serializer.instance = services.upload_evidence(
            organization=self.tenant,
            upload=upload,
            filename=upload.name,
            content_type=getattr(upload, "content_type", "") or "",
            actor=self.actor,
            assessment=assessment,
            requirement=requirement,
            **data,
        )

    def perform_destroy(self, instance: Evidence) -> None:
        services.delete_evidence(evidence=instance, actor=self.actor)
