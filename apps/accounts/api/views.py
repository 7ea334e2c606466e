from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.api.filters import InvitationFilterSet, MembershipFilterSet, TeamFilterSet
from apps.accounts.models import Invitation, Membership, Organization, Team, TeamMembership, User
from apps.accounts.permissions import user_can
from apps.accounts.principals import MachinePrincipal
from apps.accounts.selectors import memberships_of, organizations_of
from apps.core.scoping import ActorMixin, OrganizationPermission, OrganizationScopedMixin, principal_organization

# A whole UUID, so a malformed id is "no such resource" (404) rather than a failed lookup.
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@extend_schema(tags=["me"])
class MeView(ActorMixin):
    """The signed-in person, the organizations they belong to and the one this request acts for."""

    serializer_class = s.MeSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "memberships": list(memberships_of(self.request.user).order_by("organization__name")),
            "organization": principal_organization(self.request),
        }

    def get(self, request: Request) -> Response:
        if not isinstance(request.user, User):
            raise PermissionDenied("Machine clients have no profile; /api/v1/organizations/ names their organization.")
        return Response(self.get_serializer(request.user).data)

    def patch(self, request: Request) -> Response:
        if not isinstance(request.user, User):
            raise PermissionDenied("Machine clients have no profile.")
        serializer = self.get_serializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "full_name" in serializer.validated_data:
            services.update_profile(user=self.actor, full_name=serializer.validated_data["full_name"])
        return Response(self.get_serializer(request.user).data)


@extend_schema(tags=["organizations"])
@extend_schema_view(
    create=extend_schema(request=s.OrganizationCreateSerializer, responses={201: s.OrganizationSerializer}),
    partial_update=extend_schema(request=s.OrganizationUpdateSerializer, responses=s.OrganizationSerializer),
)
class OrganizationViewSet(
    ActorMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Organization],
):
    """The organizations you belong to. Creating one makes you its owner."""

    serializer_class = s.OrganizationSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    extra_error_codes = (409, 422)
    # Machine principals (API keys, OAuth apps) may read the organization they are bound to, nothing more.
    required_permissions = {"list": "organization.view", "retrieve": "organization.view"}

    def get_queryset(self) -> QuerySet[Organization]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no signed-in user
            return Organization.objects.none()
        actor: Any = self.actor
        if isinstance(actor, MachinePrincipal) and not user_can(
            actor, "organization.view", getattr(actor, "organization", None)
        ):
            raise PermissionDenied("This credential's scopes do not grant `organization.view`.")
        return organizations_of(actor)

    def get_serializer_context(self) -> dict[str, Any]:
        roles = {m.organization_id: m.role for m in memberships_of(self.request.user)}
        return {**super().get_serializer_context(), "roles": roles}

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.OrganizationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        organization = services.create_organization(owner=self.actor, **payload.validated_data)
        return Response(self.get_serializer(organization).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        organization = self.get_object()
        if not user_can(request.user, "organization.manage", organization):
            raise PermissionDenied("Only the organization's owners and admins can change it.")
        payload = s.OrganizationUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.update_organization(organization=organization, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(organization).data)


@extend_schema(tags=["memberships"])
@extend_schema_view(
    partial_update=extend_schema(request=s.MembershipUpdateSerializer, responses=s.MembershipSerializer),
)
class MembershipViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Membership],
):
    """Members of your organization and their roles."""

    queryset = Membership.objects.select_related("user").prefetch_related(
        Prefetch("team_memberships", queryset=TeamMembership.objects.only("id", "team_id", "membership_id"))
    )
    serializer_class = s.MembershipSerializer
    filterset_class = MembershipFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "members.view",
        "retrieve": "members.view",
        "partial_update": "members.manage",
        "destroy": "members.manage",
    }
    http_method_names = ["get", "patch", "delete", "head", "options"]
    extra_error_codes = (422,)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        payload = s.MembershipUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.change_member_role(membership=membership, actor=self.actor, **payload.validated_data)
        return Response(self.get_serializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.remove_member(membership=instance, actor=self.actor)


@extend_schema(tags=["teams"])
@extend_schema_view(
    add_member=extend_schema(request=s.TeamMemberSerializer, responses={204: None}),
    remove_member=extend_schema(request=None, responses={204: None}),
)
class TeamViewSet(OrganizationScopedMixin, viewsets.ModelViewSet[Team]):
    """Teams in your organization. A team may sit inside a parent team."""

    queryset = Team.objects.annotate(member_count=Count("team_memberships"))
    serializer_class = s.TeamSerializer
    filterset_class = TeamFilterSet
    permission_classes = [*viewsets.ModelViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "teams.view",
        "retrieve": "teams.view",
        "create": "teams.manage",
        "update": "teams.manage",
        "partial_update": "teams.manage",
        "destroy": "teams.manage",
        "add_member": "teams.manage",
        "remove_member": "teams.manage",
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    extra_error_codes = (409, 422)

    def _refetch(self, team: Team) -> Team:
        return self.get_queryset().get(pk=team.pk)

    def perform_create(self, serializer: s.TeamSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        with transaction.atomic():
            team = services.create_team(
                organization=self.tenant,
                actor=self.actor,
                name=data["name"],
                slug=data.get("slug", ""),
                description=data.get("description", ""),
                parent=data.get("parent"),
            )
            if data.get("role"):
                services.update_team(team=team, actor=self.actor, role=data["role"])
        serializer.instance = self._refetch(team)

    def perform_update(self, serializer: s.TeamSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        kwargs: dict[str, Any] = {k: data[k] for k in ("name", "description", "role") if k in data}
        if "parent" in data:
            kwargs["parent"] = data["parent"]
        assert serializer.instance is not None
        team = services.update_team(team=serializer.instance, actor=self.actor, **kwargs)
        serializer.instance = self._refetch(team)

    def perform_destroy(self, instance: Team) -> None:
        services.delete_team(team=instance, actor=self.actor)

    @action(detail=True, methods=["post"], url_path="members")
    def add_member(self, request: Request, pk: str | None = None) -> Response:
        team = self.get_object()
        payload = s.TeamMemberSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        services.add_team_member(team=team, membership=payload.validated_data["membership"], actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["delete"], url_path=rf"members/(?P<membership_id>{UUID_PATTERN})")
    def remove_member(self, request: Request, pk: str | None = None, membership_id: str | None = None) -> Response:
        team = self.get_object()
        membership = get_object_or_404(Membership.objects.for_organization(self.organization), pk=membership_id)
        services.remove_team_member(team=team, membership=membership, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["invitations"])
@extend_schema_view(
    revoke=extend_schema(request=None, responses=s.InvitationSerializer),
    accept=extend_schema(request=s.InvitationAcceptSerializer, responses={200: s.MembershipSerializer}),
)
class InvitationViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Invitation],
):
    """Invitations to your organization. The invitee gets an emailed link carrying a one-time token."""

    queryset = Invitation.objects.select_related("organization")
    serializer_class = s.InvitationSerializer
    filterset_class = InvitationFilterSet
    permission_classes = [*viewsets.GenericViewSet.permission_classes, OrganizationPermission]
    required_permissions = {
        "list": "invitations.manage",
        "retrieve": "invitations.manage",
        "create": "invitations.manage",
        "revoke": "invitations.manage",
    }
    extra_error_codes = (409, 422)

    def perform_create(self, serializer: s.InvitationSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        invitation, _token = services.create_invitation(
            organization=self.tenant,
            actor=self.actor,
            email=data["email"],
            role=data["role"],
            team=data.get("team"),
        )
        serializer.instance = invitation

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        invitation = services.revoke_invitation(invitation=self.get_object(), actor=self.actor)
        return Response(self.get_serializer(invitation).data)

    # Accepting is done by someone who is not a member yet: not scoped, no role needed, only the token.
    @action(detail=False, methods=["post"], permission_classes=viewsets.GenericViewSet.permission_classes)
    def accept(self, request: Request) -> Response:
        payload = s.InvitationAcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        membership = services.accept_invitation(token=payload.validated_data["token"], user=self.actor)
        return Response(s.MembershipSerializer(membership).data)


@extend_schema(tags=["access"], parameters=[s.AccessQuerySerializer], responses=s.AccessSerializer(many=True))
class ObjectAccessView(APIView):
    """Who can do what on one object of your organization, and why (role, team role or object grant)."""

    extra_error_codes = (400,)

    def get(self, request: Request) -> Response:
        from apps.accounts.security_views import organization_object
        from apps.accounts.selectors import access_to_object

        query = s.AccessQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        organization = principal_organization(request)
        if organization is None:
            raise NotFound
        if not user_can(request.user, "access.review", organization):
            raise PermissionDenied("Only owners and admins review access.")
        try:
            obj = organization_object(
                organization, query.validated_data["object_type"], query.validated_data["object_id"]
            )
        except Http404:
            raise NotFound from None
        rows = access_to_object(organization, obj)
        return Response(s.AccessSerializer(rows, many=True).data)
