"""Support tickets for the developer portal tests."""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.developers.models import SupportTicket, TicketMessage
from tests.factories.marketplace import PublisherFactory


class SupportTicketFactory(factory.django.DjangoModelFactory[SupportTicket]):
    class Meta:
        model = SupportTicket

    publisher = factory.SubFactory(PublisherFactory)
    organization = factory.LazyAttribute(lambda t: t.publisher.organization)
    subject = factory.Sequence(lambda n: f"Question {n}")
    last_message_at = factory.LazyFunction(timezone.now)


class TicketMessageFactory(factory.django.DjangoModelFactory[TicketMessage]):
    class Meta:
        model = TicketMessage

    ticket = factory.SubFactory(SupportTicketFactory)
    body = "Why was my version rejected?"
