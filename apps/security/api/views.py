from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.pagination import CreatedCursorPagination
from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin
from apps.security import services
from apps.security.api.filters import (
    AuditEventFilterSet,
    IPRuleFilterSet,
    ResponseActionFilterSet,
    SecurityEventFilterSet,
)
from apps.security.api.serializers import (
    AuditEventSerializer,
    IPRuleSerializer,
    ResponseActionSerializer,
    SecurityEventResolveSerializer,
    SecurityEventSerializer,
)
from apps.security.client_ip import client_ip
from apps.security.models import AuditEvent, IPRule, ResponseAction, SecurityEvent
from apps.security.observers import acting_person, observe_quietly


class AuditEventPagination(CreatedCursorPagination):
    ordering = ("-id",)
    page_size_query_param = "page_size"
    max_page_size = 500


class LastSeenPagination(CursorPagination):
    ordering = ("-last_seen_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(tags=["audit"])
class AuditEventViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Your organization's audit log, newest first. Read-only: events can never be changed or removed."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    pagination_class = AuditEventPagination
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "audit.view"}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        # Reading the log page by page is how it is exported: each page counts towards the mass-export rule.
        rows = response.data.get("results", []) if isinstance(response.data, dict) else []
        if rows and acting_person(request.user) is not None:
            observe_quietly(
                services.observe_export,
                user=request.user,
                organization=self.organization,
                resource_type="security.auditevent",
                records=len(rows),
            )
        return response


@extend_schema(tags=["security"])
class SecurityEventViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[SecurityEvent]):
    """Security events detected in your organization, with the responses taken. Newest first."""

    queryset = SecurityEvent.objects.select_related("organization").prefetch_related("responses")
    serializer_class = SecurityEventSerializer
    filterset_class = SecurityEventFilterSet
    pagination_class = LastSeenPagination
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "security.view", "resolve": "security.manage"}
    extra_error_codes = (409,)

    @extend_schema(request=SecurityEventResolveSerializer, responses=SecurityEventSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Close the event with what was found (responses stay until reversed on their own)."""
        event = self.get_object()
        payload = SecurityEventResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.resolve_security_event(event=event, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=event.pk)).data)


@extend_schema(tags=["security"])
class ResponseActionViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[ResponseAction]):
    """Automated responses taken on your organization's events; an admin can reverse one."""

    queryset = ResponseAction.objects.all()
    serializer_class = ResponseActionSerializer
    filterset_class = ResponseActionFilterSet
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "security.view", "reverse": "security.manage"}
    extra_error_codes = (409,)

    @extend_schema(request=None, responses=ResponseActionSerializer)
    @action(detail=True, methods=["post"])
    def reverse(self, request: Request, pk: str | None = None) -> Response:
        """Undo the response: lift the lock, unblock the address, cancel the re-authentication."""
        action_row = services.reverse_response(action=self.get_object(), actor=self.actor)
        return Response(self.get_serializer(action_row).data)


@extend_schema(tags=["security"])
class IPRuleViewSet(OrganizationScopedMixin, viewsets.ModelViewSet[IPRule]):
    """Your organization's IP allow and deny rules. With any allow rule, members may only come from allowed networks."""

    queryset = IPRule.objects.all()
    serializer_class = IPRuleSerializer
    filterset_class = IPRuleFilterSet
    permission_classes = [*viewsets.ModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": "security.view", "retrieve": "security.view", "*": "security.manage"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    extra_error_codes = (422,)

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.create_ip_rule(
            organization=self.tenant,
            actor=self.actor,
            requester_ip=client_ip(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.update_ip_rule(
            rule=serializer.instance, actor=self.actor, **serializer.validated_data
        )

    def perform_destroy(self, instance: IPRule) -> None:
        services.delete_ip_rule(rule=instance, actor=self.actor)
