"""The one router for `/api/v1/`. Each app registers its viewsets here; routes are kebab-case plurals."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import (
    InvitationViewSet,
    MembershipViewSet,
    MeView,
    ObjectAccessView,
    OrganizationViewSet,
    TeamViewSet,
)
from apps.compliance.api.views import AssessmentViewSet, EvidenceViewSet, FindingViewSet
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
from apps.marketplace.api import views as marketplace
from apps.regions.api.views import RegionViewSet
from apps.security.api.views import AuditEventViewSet, IPRuleViewSet, ResponseActionViewSet, SecurityEventViewSet
from apps.sync.api.views import (
    ConflictViewSet,
    DataMovementViewSet,
    FailedRecordViewSet,
    IntegrationWorkflowViewSet,
    SyncRunViewSet,
    WorkflowDraftViewSet,
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
router.register("workflow-drafts", WorkflowDraftViewSet, basename="workflow-draft")
router.register("api-clients", ApiClientViewSet, basename="api-client")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("client-certificates", ClientCertificateViewSet, basename="client-certificate")
router.register("certificate-authorities", CertificateAuthorityViewSet, basename="certificate-authority")
router.register("usage-records", UsageRecordViewSet, basename="usage-record")
router.register("usage-days", UsageDayViewSet, basename="usage-day")
# Marketplace: the public catalog, publishing, installations and reviews.
router.register("extensions", marketplace.ExtensionViewSet, basename="extension")
router.register("extension-versions", marketplace.ExtensionVersionViewSet, basename="extension-version")
router.register("extension-categories", marketplace.CategoryViewSet, basename="extension-category")
router.register("publishers", marketplace.PublisherViewSet, basename="publisher")
router.register("publisher-versions", marketplace.PublisherVersionViewSet, basename="publisher-version")
router.register("publisher-extensions", marketplace.PublisherExtensionViewSet, basename="publisher-extension")
router.register("publisher-reviews", marketplace.PublisherReviewViewSet, basename="publisher-review")
router.register("installations", marketplace.InstallationViewSet, basename="installation")
router.register("reviews", marketplace.ReviewViewSet, basename="review")
router.register("review-reports", marketplace.ReviewReportViewSet, basename="review-report")
router.register("regions", RegionViewSet, basename="region")
router.register("security-events", SecurityEventViewSet, basename="security-event")
router.register("security-responses", ResponseActionViewSet, basename="security-response")
router.register("ip-rules", IPRuleViewSet, basename="ip-rule")
router.register("compliance-assessments", AssessmentViewSet, basename="compliance-assessment")
router.register("compliance-findings", FindingViewSet, basename="compliance-finding")
router.register("compliance-evidence", EvidenceViewSet, basename="compliance-evidence")

app_name = "api"
urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("connector-providers/", ProviderCatalogView.as_view(), name="connector-providers"),
    path(
        "connectors/<uuid:pk>/actions/<slug:action_name>/",
        ConnectorActionView.as_view(),
        name="connector-action-invoke",
    ),
    path("extension-manifest-schema/", marketplace.ManifestSchemaView.as_view(), name="extension-manifest-schema"),
    path("extension-rules/", marketplace.RuleListView.as_view(), name="extension-rules"),
    path("extension-signing-key/", marketplace.SigningKeyView.as_view(), name="extension-signing-key"),
    path("extension-usage/", marketplace.UsageReportView.as_view(), name="extension-usage"),
    path("access/", ObjectAccessView.as_view(), name="access"),
    *router.urls,
]
