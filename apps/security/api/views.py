from drf_spectacular.utils import extend_schema
from rest_framework import viewsets

from apps.core.pagination import CreatedCursorPagination
from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin
from apps.security.api.filters import AuditEventFilterSet
from apps.security.api.serializers import AuditEventSerializer
from apps.security.models import AuditEvent


class AuditEventPagination(CreatedCursorPagination):
    ordering = ("-id",)
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["audit"])
class AuditEventViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Your organization's audit log, newest first. Read-only: events can never be changed or removed."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    pagination_class = AuditEventPagination
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"*": "audit.view"}
