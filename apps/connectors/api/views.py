from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from apps.connectors import selectors, services
from apps.connectors.api import serializers as s
from apps.connectors.api.filters import (
    ConnectorFilterSet,
    ConnectorManifestFilterSet,
    NotificationRouteFilterSet,
    WebhookDeliveryFilterSet,
)
from apps.connectors.connections import provider_for
from apps.connectors.models import Connector, ConnectorManifest, NotificationRoute, WebhookDelivery
from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin


@extend_schema(tags=["connectors"])
@extend_schema_view(
    create=extend_schema(request=s.ConnectorCreateSerializer, responses={201: s.ConnectorSerializer}),
    partial_update=extend_schema(request=s.ConnectorUpdateSerializer, responses=s.ConnectorSerializer),
    test_connection=extend_schema(request=None, responses=s.HealthSampleSerializer),
    rotate_credentials=extend_schema(request=s.CredentialRotationSerializer, responses=s.ConnectorSerializer),
    pause=extend_schema(request=None, responses=s.ConnectorSerializer),
    resume=extend_schema(request=None, responses=s.ConnectorSerializer),
    object_types=extend_schema(responses=s.ObjectTypeSerializer(many=True)),
    actions=extend_schema(responses=s.ActionSerializer(many=True)),
    health=extend_schema(responses=s.ConnectorHealthSerializer),
)
class ConnectorViewSet(OrganizationScopedMixin, viewsets.ModelViewSet[Connector]):
    """Your organization's connections to external systems. Secrets are write-only."""

    queryset = Connector.objects.select_related("manifest")
    serializer_class = s.ConnectorSerializer
    filterset_class = ConnectorFilterSet
    permission_classes = [*viewsets.ModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "connectors.view",
        "retrieve": "connectors.view",
        "object_types": "connectors.view",
        "actions": "connectors.view",
        "health": "connectors.view",
        "test_connection": "connectors.operate",
        "create": "connectors.manage",
        "partial_update": "connectors.manage",
        "destroy": "connectors.manage",
        "rotate_credentials": "connectors.manage",
        "pause": "connectors.manage",
        "resume": "connectors.manage",
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    extra_error_codes = (409, 422)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ConnectorCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        connector = services.create_connector(
            organization=self.tenant,
            actor=self.actor,
            name=data.pop("name"),
            provider=data.pop("provider"),
            settings_=data.pop("settings", {}),
            **data,
        )
        return Response(self.get_serializer(connector).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connector = self.get_object()
        payload = s.ConnectorUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        credentials = changes.pop("credentials", None)
        if "settings" in changes:
            changes["settings"] = dict(changes["settings"])
        if changes:
            services.update_connector(connector=connector, actor=self.actor, **changes)
        if credentials is not None:
            services.rotate_connector_credentials(
                connector=connector, actor=self.actor, credentials=dict(credentials), merge=True
            )
        return Response(self.get_serializer(connector).data)

    def perform_destroy(self, instance: Connector) -> None:
        services.delete_connector(connector=instance, actor=self.actor)

    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, pk: str | None = None) -> Response:
        sample = services.check_connector_health(connector=self.get_object())
        return Response(s.HealthSampleSerializer(sample).data)

    @action(detail=True, methods=["post"], url_path="rotate-credentials")
    def rotate_credentials(self, request: Request, pk: str | None = None) -> Response:
        connector = self.get_object()
        payload = s.CredentialRotationSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.rotate_connector_credentials(
            connector=connector,
            actor=self.actor,
            credentials=dict(payload.validated_data["credentials"]),
            merge=payload.validated_data["merge"],
        )
        return Response(self.get_serializer(connector).data)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        connector = services.set_connector_paused(connector=self.get_object(), actor=self.actor, paused=True)
        return Response(self.get_serializer(connector).data)

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        connector = services.set_connector_paused(connector=self.get_object(), actor=self.actor, paused=False)
        return Response(self.get_serializer(connector).data)

    @action(detail=True, methods=["get"], url_path="object-types")
    def object_types(self, request: Request, pk: str | None = None) -> Response:
        with provider_for(self.get_object()) as provider:
            described = [o.describe() for o in provider.object_types()]
        return Response(s.ObjectTypeSerializer(described, many=True).data)

    @action(detail=True, methods=["get"])
    def actions(self, request: Request, pk: str | None = None) -> Response:
        connector = self.get_object()
        enabled = set(connector.capabilities or [])
        with provider_for(connector) as provider:
            described = [{**a.describe(), "enabled": a.name in enabled} for a in provider.actions()]
        return Response(s.ActionSerializer(described, many=True).data)

    @action(detail=True, methods=["get"])
    def health(self, request: Request, pk: str | None = None) -> Response:
        return Response(s.ConnectorHealthSerializer(selectors.connector_health(self.get_object())).data)


@extend_schema(tags=["connectors"])
class WebhookDeliveryViewSet(
    OrganizationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[WebhookDelivery]
):
    """Every inbound webhook delivery to your connectors, accepted or not (read-only)."""

    queryset = WebhookDelivery.objects.all()
    serializer_class = s.WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {"list": "connectors.view", "retrieve": "connectors.view"}

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.WebhookDeliveryDetailSerializer if self.action == "retrieve" else s.WebhookDeliverySerializer

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = queryset.defer("body", "headers")
        return queryset


@extend_schema(tags=["connectors"])
@extend_schema_view(
    partial_update=extend_schema(request=s.ConnectorManifestSerializer, responses=s.ConnectorManifestSerializer),
)
class ConnectorManifestViewSet(OrganizationScopedMixin, viewsets.ModelViewSet[ConnectorManifest]):
    """Declarative connector definitions (custom connectors without code).

    The format is the JSON Schema published at /schemas/connector-manifest.schema.json.
    """

    queryset = ConnectorManifest.objects.all()
    serializer_class = s.ConnectorManifestSerializer
    filterset_class = ConnectorManifestFilterSet
    # A manifest is a nested JSON document, which form encodings cannot carry.
    parser_classes = [JSONParser]
    permission_classes = [*viewsets.ModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "connectors.view",
        "retrieve": "connectors.view",
        "create": "connectors.manage",
        "partial_update": "connectors.manage",
        "destroy": "connectors.manage",
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    extra_error_codes = (422,)

    def perform_create(self, serializer: s.ConnectorManifestSerializer) -> None:  # type: ignore[override]
        serializer.instance = services.save_connector_manifest(
            organization=self.tenant, actor=self.actor, document=serializer.validated_data["document"]
        )

    def perform_update(self, serializer: s.ConnectorManifestSerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None
        serializer.instance = services.save_connector_manifest(
            organization=self.tenant,
            actor=self.actor,
            document=serializer.validated_data.get("document", serializer.instance.document),
            manifest=serializer.instance,
        )

    def perform_destroy(self, instance: ConnectorManifest) -> None:
        services.delete_connector_manifest(manifest=instance, actor=self.actor)


@extend_schema(tags=["connectors"])
class NotificationRouteViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[NotificationRoute],
):
    """Routes that send platform events (sync failures, security events ...) to Slack or Teams channels."""

    queryset = NotificationRoute.objects.all()
    serializer_class = s.NotificationRouteSerializer
    filterset_class = NotificationRouteFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "connectors.view",
        "retrieve": "connectors.view",
        "create": "connectors.manage",
        "destroy": "connectors.manage",
    }
    extra_error_codes = (422,)

    def perform_create(self, serializer: s.NotificationRouteSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        serializer.instance = services.create_notification_route(
            organization=self.tenant,
            actor=self.actor,
            name=data.get("name", ""),
            connector=data["connector"],
            channel=data["channel"],
            event_types=data.get("event_types"),
            min_severity=data.get("min_severity", "info"),
        )

    def perform_destroy(self, instance: NotificationRoute) -> None:
        services.delete_notification_route(route=instance, actor=self.actor)


class ProviderCatalogView(APIView):
    """Every provider a connector can use, with the JSON Schemas of its settings and credentials."""

    @extend_schema(tags=["connectors"], responses=s.ProviderSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.ProviderSerializer(selectors.provider_catalog(), many=True).data)
