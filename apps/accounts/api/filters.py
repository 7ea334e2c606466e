import django_filters

from apps.accounts.models import Invitation, Membership, Team
from apps.accounts.roles import Role


class MembershipFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    team = django_filters.UUIDFilter(field_name="team_memberships__team_id")
    email = django_filters.CharFilter(field_name="user__email", lookup_expr="icontains")

    class Meta:
        model = Membership
        fields = ("role", "team", "email")


class TeamFilterSet(django_filters.FilterSet):
    parent = django_filters.UUIDFilter(field_name="parent_id")
    root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull", label="Only top-level teams")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Team
        fields = ("parent", "root", "name")


class InvitationFilterSet(django_filters.FilterSet):
    email = django_filters.CharFilter(lookup_expr="icontains")
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Invitation
        fields = ("email", "role")
