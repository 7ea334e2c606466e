from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.pagination import CreatedCursorPagination
from apps.core.scoping import OrganizationPermission, OrganizationScopedMixin
from apps.gateway import services
from apps.gateway.api import serializers as s
from apps.gateway.api.filters import (
    ApiClientFilterSet,
    ApiKeyFilterSet,
    CertificateAuthorityFilterSet,
    ClientCertificateFilterSet,
    UsageDayFilterSet,
    UsageRecordFilterSet,
)
from apps.gateway.models import ApiClient, ApiKey, CertificateAuthority, ClientCertificate, UsageDay, UsageRecord
from apps.gateway.services import Actor

_VIEW = "gateway.view"
_MANAGE = "gateway.manage"
_PERMISSIONS = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]


class GatewayViewMixin(OrganizationScopedMixin):
    @property
    def gateway_actor(self) -> Actor:
        actor: Actor = self.request.user  # type: ignore[assignment]
        return actor


@extend_schema(tags=["api-clients"])
@extend_schema_view(
    create=extend_schema(request=s.ApiClientWriteSerializer, responses={201: s.ApiClientSerializer}),
    partial_update=extend_schema(request=s.ApiClientUpdateSerializer, responses=s.ApiClientSerializer),
)
class ApiClientViewSet(
    GatewayViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ApiClient],
):
    """Machine callers of your organization: their scopes, IP allow-list, plan, transforms and status."""

    queryset = ApiClient.objects.select_related("plan")
    serializer_class = s.ApiClientSerializer
    filterset_class = ApiClientFilterSet
    permission_classes = _PERMISSIONS
    required_permissions = {"list": _VIEW, "retrieve": _VIEW, "create": _MANAGE, "partial_update": _MANAGE}
    http_method_names = ["get", "post", "patch", "head", "options"]
    extra_error_codes = (409, 422)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ApiClientWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        client = services.create_api_client(
            organization=self.tenant, actor=self.gateway_actor, **payload.validated_data
        )
        return Response(self.get_serializer(client).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        payload = s.ApiClientUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.update_api_client(client=client, actor=self.gateway_actor, **payload.validated_data)
        return Response(self.get_serializer(client).data)


@extend_schema(tags=["api-keys"])
@extend_schema_view(
    create=extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyWithTokenSerializer}),
    rotate=extend_schema(request=s.ApiKeyRotateSerializer, responses={201: s.ApiKeyWithTokenSerializer}),
    revoke=extend_schema(request=s.RevokeSerializer, responses=s.ApiKeySerializer),
)
class ApiKeyViewSet(
    GatewayViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ApiKey],
):
    """API keys of your organization's clients. The secret is in the response to create and rotate only."""

    queryset = ApiKey.objects.all()
    serializer_class = s.ApiKeySerializer
    filterset_class = ApiKeyFilterSet
    permission_classes = _PERMISSIONS
    required_permissions = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": _MANAGE,
        "rotate": _MANAGE,
        "revoke": _MANAGE,
    }
    extra_error_codes = (409, 422)

    def _with_token(self, key: ApiKey, token: str) -> Response:
        body = s.ApiKeyWithTokenSerializer(key, context={**self.get_serializer_context(), "token": token}).data
        response = Response(body, status=status.HTTP_201_CREATED)
        # The secret must not linger in any cache between here and the client.
        response["Cache-Control"] = "no-store"
        return response

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ApiKeyCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        key, token = services.issue_api_key(
            client=data["client"],
            actor=self.gateway_actor,
            name=data["name"],
            scopes=data.get("scopes"),
            expires_at=data.get("expires_at"),
        )
        return self._with_token(key, token)

    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk: str | None = None) -> Response:
        key = self.get_object()
        payload = s.ApiKeyRotateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        overlap = timedelta(seconds=payload.validated_data["overlap_seconds"])
        new_key, token = services.rotate_api_key(key=key, actor=self.gateway_actor, overlap=overlap)
        return self._with_token(new_key, token)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        key = self.get_object()
        payload = s.RevokeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.revoke_api_key(key=key, actor=self.gateway_actor, reason=payload.validated_data["reason"])
        return Response(s.ApiKeySerializer(key).data)


@extend_schema(tags=["client-certificates"])
@extend_schema_view(
    create=extend_schema(request=s.ClientCertificateCreateSerializer, responses={201: s.ClientCertificateSerializer}),
    revoke=extend_schema(request=s.RevokeSerializer, responses=s.ClientCertificateSerializer),
)
class ClientCertificateViewSet(
    GatewayViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ClientCertificate],
):
    """mTLS identities: certificates (by SHA-256 fingerprint) registered to your organization's clients."""

    queryset = ClientCertificate.objects.all()
    serializer_class = s.ClientCertificateSerializer
    filterset_class = ClientCertificateFilterSet
    permission_classes = _PERMISSIONS
    required_permissions = {"list": _VIEW, "retrieve": _VIEW, "create": _MANAGE, "revoke": _MANAGE}
    extra_error_codes = (409, 422)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.ClientCertificateCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        certificate = services.register_client_certificate(
            client=data["client"],
            actor=self.gateway_actor,
            name=data["name"],
            certificate_pem=data["certificate_pem"],
            fingerprint_sha256=data["fingerprint_sha256"],
        )
        return Response(self.get_serializer(certificate).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        certificate = self.get_object()
        payload = s.RevokeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.revoke_client_certificate(
            certificate=certificate, actor=self.gateway_actor, reason=payload.validated_data["reason"]
        )
        return Response(self.get_serializer(certificate).data)


@extend_schema(tags=["client-certificates"])
@extend_schema_view(
    create=extend_schema(
        request=s.CertificateAuthorityCreateSerializer, responses={201: s.CertificateAuthoritySerializer}
    ),
)
class CertificateAuthorityViewSet(
    GatewayViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[CertificateAuthority],
):
    """Your organization's CAs: the edge accepts client certificates they sign (see docs/gateway/mtls.md)."""

    queryset = CertificateAuthority.objects.all()
    serializer_class = s.CertificateAuthoritySerializer
    filterset_class = CertificateAuthorityFilterSet
    permission_classes = _PERMISSIONS
    required_permissions = {"list": _VIEW, "retrieve": _VIEW, "create": _MANAGE}
    extra_error_codes = (409, 422)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.CertificateAuthorityCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        authority = services.add_certificate_authority(
            organization=self.tenant, actor=self.gateway_actor, **payload.validated_data
        )
        return Response(self.get_serializer(authority).data, status=status.HTTP_201_CREATED)


class UsageRecordPagination(CreatedCursorPagination):
    ordering = ("-occurred_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["usage"])
class UsageRecordViewSet(GatewayViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet[UsageRecord]):
    """Every call your organization's API clients made, newest first (kept for 35 days)."""

    queryset = UsageRecord.objects.all()
    serializer_class = s.UsageRecordSerializer
    filterset_class = UsageRecordFilterSet
    pagination_class = UsageRecordPagination
    permission_classes = _PERMISSIONS
    required_permissions = {"list": _VIEW}


class UsageDayPagination(CreatedCursorPagination):
    ordering = ("-day", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["usage"])
class UsageDayViewSet(GatewayViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet[UsageDay]):
    """Calls per client per UTC day (rolled up every 10 minutes), newest day first."""

    queryset = UsageDay.objects.all()
    serializer_class = s.UsageDaySerializer
    filterset_class = UsageDayFilterSet
    pagination_class = UsageDayPagination
    permission_classes = _PERMISSIONS
    required_permissions = {"list": _VIEW}
