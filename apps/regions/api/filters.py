import django_filters

from apps.core.filtering import StrictChoiceFilter
from apps.regions.models import Region, RegionStatus


class RegionFilterSet(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=RegionStatus.choices)

    class Meta:
        model = Region
        fields = ("status",)
