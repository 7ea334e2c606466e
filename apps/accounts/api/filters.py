import django_filters

from apps.accounts.models import Invitation, Membership, Team
from apps.accounts.roles import Role
from apps.core.filtering import StrictBooleanFilter, StrictChoiceFilter, StrictUUIDFilter


class MembershipFilterSet(django_filters.FilterSet):
    role = StrictChoiceFilter(choices=Role.choices)
    team = StrictUUIDFilter(field_name="team_memberships__team_id")
    email = django_filters.CharFilter(field_name="user__email", lookup_expr="icontains")

    class Meta:
        model = Membership
        fields = ("role", "team", "email")


class TeamFilterSet(django_filters.FilterSet):
    parent = StrictUUIDFilter(field_name="parent_id")
    root = StrictBooleanFilter(field_name="parent", lookup_expr="isnull", label="Only top-level teams")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Team
        fields = ("parent", "root", "name")


class InvitationFilterSet(django_filters.FilterSet):
    email = django_filters.CharFilter(lookup_expr="icontains")
    role = StrictChoiceFilter(choices=Role.choices)

    class Meta:
        model = Invitation
        fields = ("email", "role")
