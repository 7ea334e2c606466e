from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin
from apps.sync import services
from apps.sync.api import serializers as s
from apps.sync.api.filters import (
    ConflictFilterSet,
    DataMovementFilterSet,
    FailedRecordFilterSet,
    IntegrationWorkflowFilterSet,
    SyncRunFilterSet,
    WorkflowDraftFilterSet,
)
from apps.sync.models import (
    Conflict,
    ConflictStatus,
    DataMovement,
    FailedRecord,
    FailedRecordStatus,
    IntegrationWorkflow,
    SyncRun,
    WorkflowDraft,
)
from apps.sync.paths import MISSING
from apps.sync.workflow_templates import TEMPLATES


def _count_of(queryset: QuerySet[Any]) -> Coalesce:
    """A per-workflow count as a subquery, so the list stays one query without multiplying rows."""
    counted = queryset.filter(workflow=OuterRef("pk")).order_by().values("workflow").annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), 0)


@extend_schema(tags=["workflows"])
@extend_schema_view(
    create=extend_schema(
        request=s.IntegrationWorkflowWriteSerializer, responses={201: s.IntegrationWorkflowSerializer}
    ),
    partial_update=extend_schema(
        request=s.IntegrationWorkflowUpdateSerializer, responses=s.IntegrationWorkflowSerializer
    ),
    pause=extend_schema(request=None, responses=s.IntegrationWorkflowSerializer),
    resume=extend_schema(request=None, responses=s.IntegrationWorkflowSerializer),
    run=extend_schema(request=None, responses={202: s.RunQueuedSerializer}),
    templates=extend_schema(responses=s.WorkflowTemplateSerializer(many=True)),
    from_template=extend_schema(
        request=s.WorkflowFromTemplateSerializer, responses={201: s.IntegrationWorkflowSerializer}
    ),
)
class IntegrationWorkflowViewSet(OrganizationScopedMixin, viewsets.ModelViewSet[IntegrationWorkflow]):
    """Integration workflows: two connectors' object types kept in step on a schedule and on webhooks."""

    queryset = IntegrationWorkflow.objects.annotate(
        open_conflicts=_count_of(Conflict.objects.filter(status=ConflictStatus.OPEN)),
        failing_records=_count_of(FailedRecord.objects.filter(status=FailedRecordStatus.OPEN)),
    )
    serializer_class = s.IntegrationWorkflowSerializer
    filterset_class = IntegrationWorkflowFilterSet
    permission_classes = [*viewsets.ModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "workflows.view",
        "retrieve": "workflows.view",
        "templates": "workflows.view",
        "create": "workflows.manage",
        "from_template": "workflows.manage",
        "partial_update": "workflows.manage",
        "destroy": "workflows.manage",
        "pause": "workflows.operate",
        "resume": "workflows.operate",
        "run": "workflows.operate",
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    extra_error_codes = (409, 422)

    def _fresh(self, workflow: IntegrationWorkflow) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=workflow.pk)).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.IntegrationWorkflowWriteSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        workflow = services.create_workflow(organization=self.tenant, actor=self.actor, **payload.validated_data)
        response = self._fresh(workflow)
        response.status_code = status.HTTP_201_CREATED
        return response

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workflow = self.get_object()
        payload = s.IntegrationWorkflowUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        payload.is_valid(raise_exception=True)
        services.update_workflow(workflow=workflow, actor=self.actor, **payload.validated_data)
        return self._fresh(workflow)

    def perform_destroy(self, instance: IntegrationWorkflow) -> None:
        services.delete_workflow(workflow=instance, actor=self.actor)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        workflow = services.set_workflow_paused(workflow=self.get_object(), actor=self.actor, paused=True)
        return self._fresh(workflow)

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        workflow = services.set_workflow_paused(workflow=self.get_object(), actor=self.actor, paused=False)
        return self._fresh(workflow)

    @action(detail=True, methods=["post"], url_path="run")
    def run(self, request: Request, pk: str | None = None) -> Response:
        """Run now: both change feeds are read, as in a scheduled run (follow it in `sync-runs`)."""
        services.request_workflow_run(workflow=self.get_object(), actor=self.actor)
        body = {"queued": True, "detail": "A run is queued; a run already going covers it."}
        return Response(s.RunQueuedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def templates(self, request: Request) -> Response:
        """The ready-made workflows; create one with `from-template`."""
        return Response(s.WorkflowTemplateSerializer([t.describe() for t in TEMPLATES], many=True).data)

    @action(detail=False, methods=["post"], url_path="from-template")
    def from_template(self, request: Request) -> Response:
        payload = s.WorkflowFromTemplateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        workflow = services.create_workflow_from_template(
            organization=self.tenant,
            actor=self.actor,
            template_key=data["template"],
            source_connector=data["source_connector"],
            target_connector=data["target_connector"],
            name=data.get("name", ""),
            paused=data.get("paused", False),
        )
        response = self._fresh(workflow)
        response.status_code = status.HTTP_201_CREATED
        return response


@extend_schema(tags=["workflows"])
class SyncRunViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[SyncRun]):
    """Runs of your workflows (the seed's sync operations), newest first, with live progress while running."""

    queryset = SyncRun.objects.all()
    serializer_class = s.SyncRunSerializer
    filterset_class = SyncRunFilterSet
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "workflows.view"}


@extend_schema(tags=["workflows"])
@extend_schema_view(resolve=extend_schema(request=s.ConflictResolutionSerializer, responses=s.ConflictSerializer))
class ConflictViewSet(
    OrganizationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Conflict]
):
    """Fields both sides changed since the last sync, held for an operator (the `manual` policy)."""

    queryset = Conflict.objects.all()
    serializer_class = s.ConflictSerializer
    filterset_class = ConflictFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": "workflows.view", "retrieve": "workflows.view", "resolve": "workflows.operate"}
    extra_error_codes = (409, 422)

    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Decide: keep the source's value, the target's, or write another; the choice is then applied."""
        conflict = self.get_object()
        payload = s.ConflictResolutionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        value = payload.validated_data.get("value", MISSING)
        resolved = services.resolve_conflict(
            conflict=conflict, actor=self.actor, choice=payload.validated_data["choice"], value=value
        )
        return Response(self.get_serializer(resolved).data)


@extend_schema(tags=["workflows"])
@extend_schema_view(
    retry=extend_schema(request=None, responses={202: s.RunQueuedSerializer}),
    discard=extend_schema(request=None, responses=s.FailedRecordSerializer),
)
class FailedRecordViewSet(
    OrganizationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[FailedRecord]
):
    """Records a run could not carry across, with the reason, until a later attempt succeeds."""

    queryset = FailedRecord.objects.all()
    serializer_class = s.FailedRecordSerializer
    filterset_class = FailedRecordFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "workflows.view",
        "retrieve": "workflows.view",
        "retry": "workflows.operate",
        "discard": "workflows.operate",
    }
    extra_error_codes = (409,)

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Try the record again now (after fixing its data or the mapping)."""
        failed = self.get_object()
        services.retry_failed_records(workflow=failed.workflow, actor=self.actor, failed=[failed])
        body = {"queued": True, "detail": "A run for this record is queued."}
        return Response(s.RunQueuedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        """Stop trying: the record stays as it is on both sides."""
        failed = services.discard_failed_record(failed=self.get_object(), actor=self.actor)
        return Response(self.get_serializer(failed).data)


@extend_schema(tags=["workflows"])
class DataMovementViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[DataMovement]):
    """The data-movement trail: every record a workflow wrote or deleted, who did it and where it came from.

    Filter by `record` (an id on either side) to see one record's history. Entries never change; each links
    to its audit-log event.
    """

    queryset = DataMovement.objects.all()
    serializer_class = s.DataMovementSerializer
    filterset_class = DataMovementFilterSet
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "workflows.view"}


@extend_schema(tags=["workflows"])
@extend_schema_view(
    complete=extend_schema(request=s.WorkflowDraftCompleteSerializer, responses={201: s.IntegrationWorkflowSerializer}),
)
class WorkflowDraftViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[WorkflowDraft]):
    """Workflow definitions waiting for their connectors (e.g. from an installed marketplace extension)."""

    queryset = WorkflowDraft.objects.all()
    serializer_class = s.WorkflowDraftSerializer
    filterset_class = WorkflowDraftFilterSet
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": "workflows.view", "retrieve": "workflows.view", "complete": "workflows.manage"}
    extra_error_codes = (409, 422)

    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """Choose the two connectors: the workflow is created (paused unless told otherwise)."""
        draft = self.get_object()
        payload = s.WorkflowDraftCompleteSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        workflow = services.complete_workflow_draft(
            draft=draft,
            actor=self.actor,
            source_connector=data["source_connector"],
            target_connector=data["target_connector"],
            name=data.get("name", ""),
            paused=data.get("paused", True),
        )
        workflows = IntegrationWorkflowViewSet.queryset.filter(pk=workflow.pk)
        body = s.IntegrationWorkflowSerializer(workflows.get(), context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)
