import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.compliance.models import (
    Assessment,
    AssessmentStatus,
    AssessmentType,
    Evidence,
    Finding,
    FindingSeverity,
    FindingStatus,
)
from apps.core.filtering import StrictBooleanFilter, StrictChoiceFilter, StrictUUIDFilter


class AssessmentFilterSet(django_filters.FilterSet):
    framework = django_filters.CharFilter(field_name="framework__code", help_text="Framework code, e.g. `soc2`.")
    assessment_type = StrictChoiceFilter(choices=AssessmentType.choices)
    status = StrictChoiceFilter(choices=AssessmentStatus.choices)

    class Meta:
        model = Assessment
        fields = ("framework", "assessment_type", "status")


class FindingFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=FindingStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=FindingSeverity.choices)
    assessment = StrictUUIDFilter(field_name="assessment_id")
    check_code = django_filters.CharFilter()

    class Meta:
        model = Finding
        fields = ("status", "severity", "assessment", "check_code")


class EvidenceFilterSet(django_filters.FilterSet):
    assessment = StrictUUIDFilter(field_name="assessment_id")
    expired = StrictBooleanFilter(method="filter_expired")

    class Meta:
        model = Evidence
        fields = ("assessment", "expired")

    def filter_expired(self, queryset: QuerySet[Evidence], name: str, value: bool) -> QuerySet[Evidence]:
        expired = Q(expires_at__isnull=False, expires_at__lte=timezone.now())
        return queryset.filter(expired) if value else queryset.exclude(expired)
