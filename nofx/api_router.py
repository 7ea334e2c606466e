"""The one router for `/api/v1/`. Each app registers its viewsets here; routes are kebab-case plurals."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import InvitationViewSet, MembershipViewSet, MeView, OrganizationViewSet, TeamViewSet
from apps.compliance.api.views import AssessmentViewSet, EvidenceViewSet, FindingViewSet
from apps.security.api.views import AuditEventViewSet, IPRuleViewSet, ResponseActionViewSet, SecurityEventViewSet

router = SimpleRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("teams", TeamViewSet, basename="team")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("security-events", SecurityEventViewSet, basename="security-event")
router.register("security-responses", ResponseActionViewSet, basename="security-response")
router.register("ip-rules", IPRuleViewSet, basename="ip-rule")
router.register("compliance-assessments", AssessmentViewSet, basename="compliance-assessment")
router.register("compliance-findings", FindingViewSet, basename="compliance-finding")
router.register("compliance-evidence", EvidenceViewSet, basename="compliance-evidence")

app_name = "api"
urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]
