import django_filters

from apps.core.filtering import (
    IntegerFilter,
    StrictBooleanFilter,
    StrictChoiceFilter,
    StrictDateFilter,
    StrictIsoDateTimeFilter,
    StrictUUIDFilter,
)
from apps.gateway.models import (
    ApiClient,
    ApiKey,
    CertificateAuthority,
    ClientCertificate,
    ClientStatus,
    UsageDay,
    UsageRecord,
)


class ApiClientFilterSet(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=ClientStatus.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ApiClient
        fields = ("status", "name")


class ApiKeyFilterSet(django_filters.FilterSet):
    client = StrictUUIDFilter(field_name="client_id")
    revoked = StrictBooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ApiKey
        fields = ("client", "revoked")


class ClientCertificateFilterSet(django_filters.FilterSet):
    client = StrictUUIDFilter(field_name="client_id")
    revoked = StrictBooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ClientCertificate
        fields = ("client", "revoked")


class CertificateAuthorityFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = CertificateAuthority
        fields = ("name",)


class UsageRecordFilterSet(django_filters.FilterSet):
    client = StrictUUIDFilter(field_name="client_id")
    status_code = IntegerFilter()
    operation = django_filters.CharFilter()
    occurred_after = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = UsageRecord
        fields = ("client", "status_code", "operation", "occurred_after", "occurred_before")


class UsageDayFilterSet(django_filters.FilterSet):
    client = StrictUUIDFilter(field_name="client_id")
    day_from = StrictDateFilter(field_name="day", lookup_expr="gte")
    day_to = StrictDateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = UsageDay
        fields = ("client", "day_from", "day_to")
