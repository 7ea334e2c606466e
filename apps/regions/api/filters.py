import django_filters

from apps.regions.models import Region, RegionStatus


class RegionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RegionStatus.choices)

    class Meta:
        model = Region
        fields = ("status",)
