import django_filters

from apps.core.filtering import StrictBooleanFilter
from apps.marketplace.models import (
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    Review,
    ReviewReport,
    VersionStatus,
)


class ExtensionFilterSet(django_filters.FilterSet):
    """The publisher's own list; the public catalog filters through `CatalogQuery` (full-text + facets)."""

    type = django_filters.CharFilter()
    deprecated = StrictBooleanFilter(field_name="is_deprecated")

    class Meta:
        model = Extension
        fields = ("type", "deprecated")


class ExtensionVersionFilterSet(django_filters.FilterSet):
    extension = django_filters.CharFilter(field_name="extension__slug")
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ExtensionVersion
        fields = ("extension", "status")


class InstallationFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InstallationStatus.choices)
    extension = django_filters.CharFilter(field_name="extension__slug")
    pending_update = StrictBooleanFilter(
        field_name="pending_version", lookup_expr="isnull", exclude=True, label="Only with an update awaiting consent"
    )

    class Meta:
        model = Installation
        fields = ("status", "extension", "pending_update")


class ReviewFilterSet(django_filters.FilterSet):
    extension = django_filters.CharFilter(field_name="extension__slug")
    rating = django_filters.NumberFilter()

    class Meta:
        model = Review
        fields = ("extension", "rating")


class ReviewReportFilterSet(django_filters.FilterSet):
    class Meta:
        model = ReviewReport
        fields = ("status",)
