import django_filters

from apps.connectors.models import (
    Connector,
    ConnectorManifest,
    ConnectorStatus,
    DeliveryStatus,
    NotificationRoute,
    WebhookDelivery,
)


class ConnectorFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=ConnectorStatus.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Connector
        fields = ("provider", "status", "name")


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    connector = django_filters.UUIDFilter(field_name="connector_id")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter()
    delivery_id = django_filters.CharFilter()
    received_after = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ("connector", "status", "event_type", "delivery_id", "received_after", "received_before")


class ConnectorManifestFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ConnectorManifest
        fields = ("name",)


class NotificationRouteFilterSet(django_filters.FilterSet):
    connector = django_filters.UUIDFilter(field_name="connector_id")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = NotificationRoute
        fields = ("connector", "is_active")
