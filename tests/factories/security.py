import factory
from django.utils import timezone

from apps.security.models import (
    EventStatus,
    IPRule,
    IPRuleAction,
    ResponseAction,
    ResponseKind,
    ResponseStatus,
    SecurityEvent,
    Severity,
)
from tests.factories.accounts import OrganizationFactory


class SecurityEventFactory(factory.django.DjangoModelFactory[SecurityEvent]):
    class Meta:
        model = SecurityEvent

    organization = factory.SubFactory(OrganizationFactory)
    event_type = "brute_force"
    severity = Severity.HIGH
    status = EventStatus.OPEN
    title = "Something suspicious"
    detection_method = "test"
    dedup_key = factory.Sequence(lambda n: f"test:{n}")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class ResponseActionFactory(factory.django.DjangoModelFactory[ResponseAction]):
    class Meta:
        model = ResponseAction

    event = factory.SubFactory(SecurityEventFactory)
    organization = factory.SelfAttribute("event.organization")
    kind = ResponseKind.NOTIFY
    status = ResponseStatus.APPLIED


class IPRuleFactory(factory.django.DjangoModelFactory[IPRule]):
    class Meta:
        model = IPRule

    organization = factory.SubFactory(OrganizationFactory)
    cidr = "198.51.100.0/24"
    action = IPRuleAction.DENY
