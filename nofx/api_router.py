"""The one router for `/api/v1/`. Each app registers its viewsets here; routes are kebab-case plurals."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import InvitationViewSet, MembershipViewSet, MeView, OrganizationViewSet, TeamViewSet
from apps.connectors.api.views import (
    ConnectorManifestViewSet,
    ConnectorViewSet,
    NotificationRouteViewSet,
    ProviderCatalogView,
    WebhookDeliveryViewSet,
)
from apps.gateway.api.actions import ConnectorActionView
from apps.gateway.api.views import (
    ApiClientViewSet,
    ApiKeyViewSet,
    CertificateAuthorityViewSet,
    ClientCertificateViewSet,
    UsageDayViewSet,
    UsageRecordViewSet,
)
from apps.security.api.views import AuditEventViewSet
from apps.sync.api.views import (
    ConflictViewSet,
    DataMovementViewSet,
    FailedRecordViewSet,
    IntegrationWorkflowViewSet,
    SyncRunViewSet,
)

router = SimpleRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("teams", TeamViewSet, basename="team")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("connectors", ConnectorViewSet, basename="connector")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("connector-manifests", ConnectorManifestViewSet, basename="connector-manifest")
router.register("notification-routes", NotificationRouteViewSet, basename="notification-route")
router.register("workflows", IntegrationWorkflowViewSet, basename="workflow")
router.register("sync-runs", SyncRunViewSet, basename="sync-run")
router.register("sync-conflicts", ConflictViewSet, basename="sync-conflict")
router.register("failed-records", FailedRecordViewSet, basename="failed-record")
router.register("data-movements", DataMovementViewSet, basename="data-movement")
router.register("api-clients", ApiClientViewSet, basename="api-client")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("client-certificates", ClientCertificateViewSet, basename="client-certificate")
router.register("certificate-authorities", CertificateAuthorityViewSet, basename="certificate-authority")
router.register("usage-records", UsageRecordViewSet, basename="usage-record")
router.register("usage-days", UsageDayViewSet, basename="usage-day")

app_name = "api"
urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("connector-providers/", ProviderCatalogView.as_view(), name="connector-providers"),
    path(
        "connectors/<uuid:pk>/actions/<slug:action_name>/",
        ConnectorActionView.as_view(),
        name="connector-action-invoke",
    ),
    *router.urls,
]
