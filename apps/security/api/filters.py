import django_filters

from apps.core.filtering import StrictIsoDateTimeFilter
from apps.security.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text="Exact action, e.g. `accounts.team_created`.")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    actor_type = django_filters.CharFilter()
    actor_id = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    occurred_after = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = StrictIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = (
            "action",
            "action_prefix",
            "actor_type",
            "actor_id",
            "target_type",
            "target_id",
            "occurred_after",
            "occurred_before",
        )
