import django_filters

from apps.connectors.models import (
    Connector,
    ConnectorManifest,
    ConnectorStatus,
    DeliveryStatus,
    NotificationRoute,
    WebhookDelivery,
)
from apps.core.filtering import StrictBooleanFilter, StrictChoiceFilter, StrictIsoDateTimeFilter, StrictUUIDFilter


class ConnectorFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter()
    status = StrictChoiceFilter(choices=ConnectorStatus.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Connector
        fields = ("provider", "status", "name")


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    connector = StrictUUIDFilter(field_name="connector_id")
    status = StrictChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter()
    delivery_id = django_filters.CharFilter()
    received_after = StrictIsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = StrictIsoDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ("connector", "status", "event_type", "delivery_id", "received_after", "received_before")


class ConnectorManifestFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ConnectorManifest
        fields = ("name",)


class NotificationRouteFilterSet(django_filters.FilterSet):
    connector = StrictUUIDFilter(field_name="connector_id")
    is_active = StrictBooleanFilter()

    class Meta:
        model = NotificationRoute
        fields = ("connector", "is_active")
