from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.pagination import CursorPagination

from apps.regions.api.filters import RegionFilterSet
from apps.regions.api.serializers import RegionSerializer
from apps.regions.models import Region, ResidencyRule


class RegionPagination(CursorPagination):
    """A handful of rows, in code order."""

    ordering = "code"
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(tags=["regions"])
class RegionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Region]):
    """The regions an organization can live in, with their certifications and residency rules.

    The same list for every organization: it is how a customer chooses a home region (e.g. in the EU, for
    GDPR) when creating an organization.
    """

    serializer_class = RegionSerializer
    filterset_class = RegionFilterSet
    pagination_class = RegionPagination

    def get_queryset(self) -> QuerySet[Region]:
        rules = ResidencyRule.objects.filter(organization__isnull=True, is_active=True).order_by("effect", "id")
        return Region.objects.prefetch_related(Prefetch("residency_rules", queryset=rules, to_attr="region_wide_rules"))
