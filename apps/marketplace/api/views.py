"""The marketplace API: the public catalog (no login), publishing (publisher members), installations and
reviews (customer organizations), analytics (publishers)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.core.pagination import StrictLimitOffsetPagination
from apps.core.problems import Problem
from apps.core.scoping import ActorMixin, OrganizationPermission, OrganizationScopedMixin, principal_organization
from apps.marketplace import selectors, services, signing
from apps.marketplace.api import serializers as s
from apps.marketplace.api.filters import (
    ExtensionFilterSet,
    ExtensionVersionFilterSet,
    InstallationFilterSet,
    ReviewFilterSet,
    ReviewReportFilterSet,
)
from apps.marketplace.models import (
    Category,
    EventKind,
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    Publisher,
    Review,
    ReviewReport,
    ReviewStatus,
    VersionStatus,
)
from apps.marketplace.services.installations import hash_install_token
from apps.marketplace.services.pipeline import effective_modes
from nofx_sdk import rules
from nofx_sdk.rules.manifest import manifest_json_schema

PUBLIC = [permissions.AllowAny]


class CatalogPagination(StrictLimitOffsetPagination):
    """Search results are ranked, not time-ordered, so they page by offset."""

    default_limit = 24
    max_limit = 100

    def paginate_catalog(self, query: selectors.CatalogQuery, request: Request) -> list[Extension]:
        self.request = request
        self.limit = self.get_limit(request) or self.default_limit
        self.offset = self.get_offset(request)
        page, self.count = selectors.catalog_page(query, offset=self.offset, limit=self.limit)
        return page


# -- Public catalog ------------------------------------------------------------------------------------


@extend_schema(tags=["catalog"])
@extend_schema_view(
    list=extend_schema(
        parameters=[s.CatalogQuerySerializer, OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses=s.CatalogPageSerializer,
    ),
    versions=extend_schema(responses=s.VersionSummarySerializer(many=True)),
    reviews=extend_schema(responses=s.PublicReviewSerializer(many=True)),
    consent=extend_schema(responses=s.ConsentSerializer),
)
class ExtensionViewSet(viewsets.ReadOnlyModelViewSet[Extension]):
    """The public catalog: search with facets and sorts, extension pages, versions and reviews."""

    queryset = Extension.objects.listed().select_related("publisher", "category", "latest_version")
    serializer_class = s.ExtensionDetailSerializer
    permission_classes = PUBLIC
    lookup_field = "slug"
    lookup_value_regex = r"[a-z0-9][a-z0-9.-]*"
    pagination_class = CatalogPagination
    filter_backends: list[Any] = []

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A plain dict, not the QueryDict: DRF reads an empty form value as "not given", the API as a bad value.
        params = s.CatalogQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        data = params.validated_data
        query = selectors.CatalogQuery(
            text=data.get("q", ""),
            type=data.get("type", ""),
            category=data.get("category", ""),
            pricing=data.get("pricing", ""),
            support_level=data.get("support_level", ""),
            certified=data.get("certified"),
            sort=data.get("sort", "relevance"),
        )
        paginator = CatalogPagination()
        page = paginator.paginate_catalog(query, request)
        return Response(
            {
                "count": paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": s.ExtensionListSerializer(page, many=True).data,
                "facets": selectors.catalog_facets(query),
            }
        )

    @action(detail=True, methods=["get"])
    def versions(self, request: Request, slug: str | None = None) -> Response:
        extension = self.get_object()
        versions = extension.versions.filter(status=VersionStatus.PUBLISHED)
        return Response(s.VersionSummarySerializer(versions, many=True).data)

    @action(detail=True, methods=["get"])
    def reviews(self, request: Request, slug: str | None = None) -> Response:
        extension = self.get_object()
        reviews = extension.reviews.filter(status=ReviewStatus.VISIBLE).select_related("version")[:100]
        return Response(s.PublicReviewSerializer(reviews, many=True).data)

    @action(detail=True, methods=["get"], permission_classes=[permissions.IsAuthenticated])
    def consent(self, request: Request, slug: str | None = None) -> Response:
        """What installing would grant, and whether you may grant it (the consent screen's data)."""
        extension = self.get_object()
        user: User = request.user  # type: ignore[assignment]  # IsAuthenticated: never anonymous here
        consent = selectors.consent_for(extension=extension, user=user, organization=principal_organization(request))
        return Response(s.ConsentSerializer(consent).data)


@extend_schema(tags=["catalog"])
@extend_schema_view(
    download=extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The package."),
            304: OpenApiResponse(description="Not modified (the ETag matched)."),
        }
    )
)
class ExtensionVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet[ExtensionVersion]):
    """Published versions: their hash and platform signature, and the package download."""

    queryset = ExtensionVersion.objects.filter(
        status__in=(VersionStatus.PUBLISHED, VersionStatus.YANKED)
    ).select_related("extension")
    serializer_class = s.PublicVersionSerializer
    permission_classes = PUBLIC

    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The package bytes. Immutable: cache forever; `If-None-Match` with the ETag answers 304."""
        version = self.get_object()
        etag = f'"{version.sha256}"'
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Package-SHA256": version.sha256,
            "X-Package-Signature": version.signature,
        }
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers=headers)
        with version.package.open("rb") as handle:
            body = handle.read()
        with transaction.atomic():
            ExtensionVersion.objects.filter(pk=version.pk).update(downloads=F("downloads") + 1)
            Extension.objects.filter(pk=version.extension_id).update(downloads=F("downloads") + 1)
            services.record_analytics_event(extension=version.extension, kind=EventKind.DOWNLOAD, version=version)
        filename = f"{version.extension.slug}-{version.version}.zip"
        return HttpResponse(
            body,
            content_type="application/zip",
            headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'},
        )


@extend_schema(tags=["catalog"])
class CategoryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Category]):
    queryset = Category.objects.all()
    serializer_class = s.CategorySerializer
    permission_classes = PUBLIC
    pagination_class = None


@extend_schema(tags=["catalog"], responses={200: OpenApiTypes.OBJECT})
class ManifestSchemaView(APIView):
    """The JSON Schema of nofx-extension.json (the same models validate uploads)."""

    permission_classes = PUBLIC

    def get(self, request: Request) -> Response:
        return Response(manifest_json_schema())


@extend_schema(tags=["catalog"], responses=s.SigningKeySerializer)
class SigningKeyView(APIView):
    """The platform's Ed25519 public key: it verifies package signatures and registration calls."""

    permission_classes = PUBLIC

    def get(self, request: Request) -> Response:
        return Response(
            {"key_id": signing.key_id(), "algorithm": "Ed25519", "public_key_pem": signing.public_key_pem()}
        )


@extend_schema(tags=["catalog"], responses=s.RuleSerializer(many=True))
class RuleListView(APIView):
    """Every pipeline rule with its stable id and current mode, as findings refer to them."""

    permission_classes = PUBLIC

    def get(self, request: Request) -> Response:
        modes = effective_modes()
        rows = [
            {"id": r.id, "step": str(r.step), "title": r.title, "outcome": str(r.outcome), "mode": modes[r.id]}
            for r in rules.RULES.values()
        ]
        return Response(rows)


# -- Publishing ----------------------------------------------------------------------------------------


class PublisherPermission(OrganizationPermission):
    """The role must carry the permission outright. Objects are the publisher's by the queryset; their own
    `organization` (e.g. a reviewer's) says nothing about the publisher, so there is no object check."""

    def has_permission(self, request: Request, view: Any) -> bool:
        from apps.accounts.permissions import user_can

        perm = self.required(view)
        organization = principal_organization(request)
        return perm is None or organization is None or user_can(request.user, perm, organization)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return True


class PublisherScopedMixin(ActorMixin):
    """Views over the signed-in organization's publisher and what it publishes."""

    required_permissions: dict[str, str] = {"*": "extensions.publish"}

    @property
    def publisher(self) -> Publisher:
        organization = principal_organization(self.request)
        publisher = Publisher.objects.filter(organization=organization).first() if organization else None
        if publisher is None:
            raise NotFound("Your organization is not a publisher yet: create one at /api/v1/publishers/.")
        return publisher

    def publisher_organization_id(self) -> Any:
        organization = principal_organization(self.request)
        return organization.pk if organization else None


@extend_schema(tags=["publishing"])
@extend_schema_view(partial_update=extend_schema(request=s.PublisherUpdateSerializer, responses=s.PublisherSerializer))
class PublisherViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Publisher],
):
    """Your organization's publisher profile (at most one). Creating it requires accepting the terms."""

    queryset = Publisher.objects.all()
    serializer_class = s.PublisherSerializer
    permission_classes = [permissions.IsAuthenticated, OrganizationPermission]
    required_permissions = {"*": "extensions.publish"}
    http_method_names = ["get", "post", "patch", "head", "options"]
    extra_error_codes = (409, 422)

    def perform_create(self, serializer: s.PublisherSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        serializer.instance = services.create_publisher(
            organization=self.tenant,
            actor=self.actor,
            slug=data["slug"],
            name=data["name"],
            website=data.get("website", ""),
            accept_terms=data.get("accept_terms", False),
        )

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        publisher = self.get_object()
        payload = s.PublisherUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.update_publisher(publisher=publisher, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(publisher).data)


@extend_schema(tags=["publishing"])
@extend_schema_view(
    create=extend_schema(
        request={"multipart/form-data": s.VersionUploadSerializer}, responses={201: s.PublisherVersionSerializer}
    ),
    publish=extend_schema(request=None, responses=s.PublisherVersionSerializer),
    yank=extend_schema(request=s.YankSerializer, responses=s.PublisherVersionSerializer),
)
class PublisherVersionViewSet(
    PublisherScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ExtensionVersion],
):
    """Upload versions and follow them through the pipeline: each step's status and every finding, with its
    rule id, file and line."""

    queryset = ExtensionVersion.objects.select_related("extension")
    serializer_class = s.PublisherVersionSerializer
    filterset_class = ExtensionVersionFilterSet
    permission_classes = [permissions.IsAuthenticated, PublisherPermission]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    # 404: the extension, version or review a body names does not exist (or is not visible to the caller).
    extra_error_codes = (404, 409, 422)

    def get_queryset(self) -> QuerySet[ExtensionVersion]:
        return super().get_queryset().filter(extension__publisher__organization_id=self.publisher_organization_id())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.VersionUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["package"]
        version = services.upload_version(
            publisher=self.publisher,
            actor=self.actor,
            data=upload.read(),
            auto_publish=payload.validated_data["auto_publish"],
        )
        version = self.get_queryset().get(pk=version.pk)
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        """Publish a version that passed (uploads made with auto_publish=false wait for this)."""
        version = self.get_object()
        if not services.publish_version(version_id=version.pk, actor=self.actor, explicit=True):
            raise Problem(status_code=409, code="not_passed", detail=f"The version is {version.status}, not passed.")
        version.refresh_from_db()
        return Response(self.get_serializer(version).data)

    @action(detail=True, methods=["post"])
    def yank(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        payload = s.YankSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = services.yank_version(version=version, actor=self.actor, reason=payload.validated_data["reason"])
        return Response(self.get_serializer(version).data)


@extend_schema(tags=["publishing"])
@extend_schema_view(
    partial_update=extend_schema(
        request=s.PublisherExtensionUpdateSerializer, responses=s.PublisherExtensionSerializer
    ),
    analytics=extend_schema(
        parameters=[s.AnalyticsQuerySerializer],
        responses={200: s.AnalyticsRowSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR},
    ),
    installs=extend_schema(responses=s.InstallBreakdownSerializer),
)
class PublisherExtensionViewSet(
    PublisherScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Extension],
):
    """Your extensions, with their analytics."""

    queryset = Extension.objects.select_related("publisher", "category", "latest_version")
    serializer_class = s.PublisherExtensionSerializer
    filterset_class = ExtensionFilterSet
    permission_classes = [permissions.IsAuthenticated, PublisherPermission]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Extension]:
        return super().get_queryset().filter(publisher__organization_id=self.publisher_organization_id())

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        extension = self.get_object()
        payload = s.PublisherExtensionUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.set_deprecated(extension=extension, actor=self.actor, deprecated=payload.validated_data["deprecated"])
        return Response(self.get_serializer(self.get_queryset().get(pk=extension.pk)).data)

    @action(detail=True, methods=["get"])
    def analytics(self, request: Request, pk: str | None = None) -> Response | HttpResponse:
        """Installs, uninstalls, updates, usage, downloads and revenue per day (`?export=csv` for CSV)."""
        extension = self.get_object()
        params = s.AnalyticsQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        until = params.validated_data.get("until") or timezone.now().date()
        since = params.validated_data.get("since") or until - timedelta(days=30)
        rows = selectors.daily_analytics(extension=extension, since=since, until=until)
        if params.validated_data.get("export") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["day", "kind", "currency", "quantity", "amount_cents"])
            for row in rows:
                writer.writerow(
                    [row["day"].isoformat(), row["kind"], row["currency"], row["quantity"], row["amount_cents"]]
                )
            filename = f"{extension.slug}-{since.isoformat()}-{until.isoformat()}.csv"
            return HttpResponse(
                out.getvalue(),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(s.AnalyticsRowSerializer(rows, many=True).data)

    @action(detail=True, methods=["get"])
    def installs(self, request: Request, pk: str | None = None) -> Response:
        """Active installations now, by version and by region."""
        return Response(selectors.active_installs_breakdown(extension=self.get_object()))


@extend_schema(tags=["publishing"])
@extend_schema_view(reply=extend_schema(request=s.ReplySerializer, responses=s.PublisherReviewSerializer))
class PublisherReviewViewSet(
    PublisherScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Review]
):
    """Reviews of your extensions; reply publicly."""

    queryset = Review.objects.select_related("extension", "version")
    serializer_class = s.PublisherReviewSerializer
    filterset_class = ReviewFilterSet
    permission_classes = [permissions.IsAuthenticated, PublisherPermission]
    extra_error_codes = (422,)

    def get_queryset(self) -> QuerySet[Review]:
        return super().get_queryset().filter(extension__publisher__organization_id=self.publisher_organization_id())

    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        payload = s.ReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        organization = principal_organization(request)
        assert organization is not None
        review = services.reply_to_review(
            review=target,
            actor=self.actor,
            publisher_organization=organization,
            text=payload.validated_data["text"],
        )
        return Response(self.get_serializer(review).data)


# -- Installations -------------------------------------------------------------------------------------

_INSTALL_PERMS = {
    "list": "extensions.view",
    "retrieve": "extensions.view",
    "*": "extensions.install",
}


@extend_schema(tags=["installations"])
@extend_schema_view(
    create=extend_schema(request=s.InstallSerializer, responses={201: s.InstallationSerializer}),
    partial_update=extend_schema(request=s.ConfigureSerializer, responses=s.InstallationSerializer),
    disable=extend_schema(request=s.DisableSerializer, responses=s.InstallationSerializer),
    enable=extend_schema(request=None, responses=s.InstallationSerializer),
    uninstall=extend_schema(request=None, responses=s.InstallationSerializer),
    retry=extend_schema(request=None, responses=s.InstallationSerializer),
    approve_update=extend_schema(request=s.ApproveUpdateSerializer, responses=s.InstallationSerializer),
)
class InstallationViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Installation],
):
    """Extensions installed in your organization: install (after consent), configure, disable, enable,
    uninstall, and consent to updates that ask for more permissions."""

    queryset = Installation.objects.select_related("extension", "version", "pending_version")
    serializer_class = s.InstallationSerializer
    filterset_class = InstallationFilterSet
    permission_classes = [permissions.IsAuthenticated, OrganizationPermission]
    required_permissions = _INSTALL_PERMS
    http_method_names = ["get", "post", "patch", "head", "options"]
    # 404: the extension, version or review a body names does not exist (or is not visible to the caller).
    extra_error_codes = (404, 409, 422)

    def _fresh(self, installation: Installation) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=installation.pk)).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.InstallSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        extension = get_object_or_404(Extension.objects.listed(), slug=data["extension"])
        installation = services.install_extension(
            organization=self.tenant,
            actor=self.actor,
            extension=extension,
            accepted_permissions=data["accepted_permissions"],
            config=data["config"],
            plan_id=data["plan"],
        )
        response = self._fresh(installation)
        response.status_code = status.HTTP_201_CREATED
        return response

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        payload = s.ConfigureSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        installation = services.configure_installation(
            installation=target, actor=self.actor, config=payload.validated_data["config"]
        )
        return self._fresh(installation)

    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        payload = s.DisableSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        installation = services.disable_installation(
            installation=target, actor=self.actor, reason=payload.validated_data["reason"]
        )
        return self._fresh(installation)

    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        return self._fresh(services.enable_installation(installation=self.get_object(), actor=self.actor))

    @action(detail=True, methods=["post"])
    def uninstall(self, request: Request, pk: str | None = None) -> Response:
        return self._fresh(services.uninstall_installation(installation=self.get_object(), actor=self.actor))

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        from apps.marketplace.services.installations import retry_installation

        return self._fresh(retry_installation(installation=self.get_object(), actor=self.actor))

    @action(detail=True, methods=["post"], url_path="approve-update")
    def approve_update(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        payload = s.ApproveUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        installation = services.approve_update(
            installation=target,
            actor=self.actor,
            accepted_permissions=payload.validated_data["accepted_permissions"],
        )
        return self._fresh(installation)


# -- Reviews -------------------------------------------------------------------------------------------


@extend_schema(tags=["reviews"])
@extend_schema_view(partial_update=extend_schema(request=s.ReviewUpdateSerializer, responses=s.ReviewSerializer))
class ReviewViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Review],
):
    """Your organization's reviews: one per extension you have (or recently had) installed."""

    queryset = Review.objects.select_related("extension", "version")
    serializer_class = s.ReviewSerializer
    filterset_class = ReviewFilterSet
    permission_classes = [permissions.IsAuthenticated, OrganizationPermission]
    required_permissions = _INSTALL_PERMS
    http_method_names = ["get", "post", "patch", "head", "options"]
    # 404: the extension, version or review a body names does not exist (or is not visible to the caller).
    extra_error_codes = (404, 409, 422)

    def perform_create(self, serializer: s.ReviewSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        extension = get_object_or_404(Extension.objects.listed(), slug=data["extension"])
        serializer.instance = services.submit_review(
            organization=self.tenant,
            actor=self.actor,
            extension=extension,
            rating=data["rating"],
            title=data.get("title", ""),
            body=data.get("body", ""),
        )

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        payload = s.ReviewUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        review = services.edit_review(review=target, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(review).data)


@extend_schema(tags=["reviews"])
class ReviewReportViewSet(
    OrganizationScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[ReviewReport]
):
    """Report a public review to the operators; list your organization's reports."""

    queryset = ReviewReport.objects.all()
    serializer_class = s.ReviewReportSerializer
    filterset_class = ReviewReportFilterSet
    permission_classes = [permissions.IsAuthenticated, OrganizationPermission]
    required_permissions = {"*": "extensions.view"}
    # 404: the extension, version or review a body names does not exist (or is not visible to the caller).
    extra_error_codes = (404, 409, 422)

    def perform_create(self, serializer: s.ReviewReportSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        review = get_object_or_404(Review.objects.filter(status=ReviewStatus.VISIBLE), pk=data["review_id"])
        serializer.instance = services.report_review(
            review=review, organization=self.tenant, actor=self.actor, reason=data["reason"]
        )


# -- Extensions calling back ---------------------------------------------------------------------------


@extend_schema(tags=["installations"], request=s.UsageEventSerializer, responses={202: None})
class UsageReportView(APIView):
    """An installed extension reports usage with its install token (`Authorization: Bearer nxi_...`).
    Reports are idempotent by their `id`."""

    authentication_classes: list[Any] = []
    permission_classes = PUBLIC
    extra_error_codes = (401,)

    def post(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        installation = (
            Installation.objects.filter(token_hash=hash_install_token(token), status=InstallationStatus.ACTIVE)
            .select_related("extension", "version", "organization")
            .first()
            if token
            else None
        )
        if installation is None:
            raise Problem(
                status_code=401,
                code="invalid_install_token",
                detail="Present a valid install token.",
                headers={"WWW-Authenticate": 'Bearer realm="extensions"'},
            )
        payload = s.UsageEventSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        key = hashlib.sha256(f"{installation.pk}:{payload.validated_data['id']}".encode()).hexdigest()
        services.record_analytics_event(
            extension=installation.extension,
            kind=EventKind.USAGE,
            version=installation.version,
            organization=installation.organization,
            quantity=payload.validated_data["quantity"],
            idempotency_key=f"usage:{key}",
        )
        # Usage plans are billed from billing's ledger (once per report id) and Stripe's meter.
        from apps.billing.services import record_usage

        record_usage(
            installation=installation,
            event_id=str(payload.validated_data["id"]),
            quantity=int(payload.validated_data["quantity"]),
        )
        return Response(status=status.HTTP_202_ACCEPTED)
