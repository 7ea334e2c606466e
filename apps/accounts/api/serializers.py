from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Invitation, InvitationStatus, Membership, Organization, Team, User
from apps.accounts.roles import Role
from apps.core.scoping import OrganizationScopedRelatedField


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    role = serializers.SerializerMethodField(help_text="Your role in this organization.")

    class Meta:
        model = Organization
        fields = ("id", "name", "slug", "home_region_code", "role", "created_at")
        read_only_fields = ("id", "created_at", "role")

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, organization: Organization) -> str | None:
        roles: dict[Any, str] = self.context.get("roles", {})
        return roles.get(organization.pk)


class OrganizationCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=60, required=False, allow_blank=True)
    home_region_code = serializers.RegexField(
        r"^[a-z]{2}(-[a-z0-9]+)+$", max_length=32, help_text="For example `eu-west`; fixed once created."
    )


class OrganizationUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)


class MembershipOrganizationSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.ModelSerializer[User]):
    organizations = serializers.SerializerMethodField()
    active_organization = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "email", "full_name", "date_joined", "organizations", "active_organization")
        read_only_fields = ("id", "email", "date_joined")

    @extend_schema_field(MembershipOrganizationSerializer(many=True))
    def get_organizations(self, user: User) -> list[dict[str, Any]]:
        return [
            {"id": m.organization.pk, "name": m.organization.name, "slug": m.organization.slug, "role": m.role}
            for m in self.context["memberships"]
        ]

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_active_organization(self, user: User) -> Any:
        organization = self.context.get("organization")
        return organization.pk if organization else None


class MemberUserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ("id", "email", "full_name", "is_active")


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    user = MemberUserSerializer(read_only=True)
    team_ids = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ("id", "user", "role", "team_ids", "created_at")
        read_only_fields = ("id", "user", "team_ids", "created_at")

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_team_ids(self, membership: Membership) -> list[Any]:
        return [link.team_id for link in membership.team_memberships.all()]


class MembershipUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class TeamSerializer(serializers.ModelSerializer[Team]):
    # The API calls it `parent` as the model does; the stubs know Field.parent as the enclosing serializer.
    parent = OrganizationScopedRelatedField(  # type: ignore[assignment]
        queryset=Team.objects.all(), allow_null=True, required=False, help_text="The parent team's id."
    )
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ("id", "name", "slug", "description", "parent", "role", "member_count", "created_at")
        read_only_fields = ("id", "member_count", "created_at")
        extra_kwargs = {
            "slug": {"required": False},
            "role": {"help_text": "A role every member of the team, and of its nested teams, holds at least."},
        }


class TeamMemberSerializer(serializers.Serializer[Any]):
    membership = OrganizationScopedRelatedField(queryset=Membership.objects.all())


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)
    team = OrganizationScopedRelatedField(queryset=Team.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "team", "status", "invited_by", "expires_at", "accepted_at", "created_at")
        read_only_fields = ("id", "status", "invited_by", "expires_at", "accepted_at", "created_at")


class InvitationAcceptSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=200, help_text="The token from the invitation link.")


class AccessQuerySerializer(serializers.Serializer[Any]):
    object_type = serializers.RegexField(
        r"^[a-z_]+\.[a-z_]+$", help_text="The object's kind as `app_label.model`, e.g. `accounts.team`."
    )
    object_id = serializers.CharField(max_length=64, help_text="The object's id.")


class AccessSerializer(serializers.Serializer[Any]):
    user = MemberUserSerializer()
    effective_role = serializers.ChoiceField(choices=Role.choices)
    permissions = serializers.ListField(child=serializers.CharField(), help_text="Named permissions on the object.")
    granted = serializers.ListField(child=serializers.CharField(), help_text="Those that come from object grants.")
    sources = serializers.ListField(child=serializers.CharField(), help_text="Where the permissions come from.")
