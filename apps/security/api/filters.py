import django_filters

from apps.core.filtering import StrictChoiceFilter, StrictIsoDateTimeFilter, StrictUUIDFilter
from apps.security.models import (
    AuditEvent,
    EventStatus,
    IPRule,
    IPRuleAction,
    IPRuleSource,
    ResponseAction,
    ResponseKind,
    ResponseStatus,
    SecurityEvent,
    Severity,
)


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


class SecurityEventFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EventStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    event_type = django_filters.CharFilter()
    seen_after = StrictIsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = SecurityEvent
        fields = ("status", "severity", "event_type", "seen_after")


class ResponseActionFilterSet(django_filters.FilterSet):
    event = StrictUUIDFilter(field_name="event_id")
    kind = StrictChoiceFilter(choices=ResponseKind.choices)
    status = StrictChoiceFilter(choices=ResponseStatus.choices)

    class Meta:
        model = ResponseAction
        fields = ("event", "kind", "status")


class IPRuleFilterSet(django_filters.FilterSet):
    action = StrictChoiceFilter(choices=IPRuleAction.choices)
    source = StrictChoiceFilter(choices=IPRuleSource.choices)

    class Meta:
        model = IPRule
        fields = ("action", "source")
