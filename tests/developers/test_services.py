"""The portal's own writes: support tickets, with their audit trail."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.developers.models import TicketStatus
from apps.developers.services import answer_ticket, close_ticket, open_ticket, reply_to_ticket
from apps.security.models import AuditEvent
from tests.factories.accounts import UserFactory
from tests.factories.developers import SupportTicketFactory

pytestmark = pytest.mark.django_db


def test_opening_a_ticket_is_audited_without_its_text(publisher, developer):
    # when
    ticket = open_ticket(publisher=publisher, actor=developer, subject="Payouts", body="Private details")
    # then
    event = AuditEvent.objects.get(action="developers.ticket_opened")
    assert str(ticket.pk) in str(event.target_id)
    assert "Private details" not in str(event.data)


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", "text", "subject"),
        ("x" * 161, "text", "subject"),
        ("Subject", "  ", "body"),
        ("Subject", "x" * 10001, "body"),
    ],
)
def test_it_refuses_an_empty_or_oversized_ticket(publisher, developer, subject, body, field):
    with pytest.raises(BusinessRuleViolation) as refused:
        open_ticket(publisher=publisher, actor=developer, subject=subject, body=body)
    assert refused.value.field == field


def test_closing_twice_changes_nothing_the_second_time(publisher, developer):
    # given
    ticket = SupportTicketFactory(publisher=publisher)
    close_ticket(ticket=ticket, actor=developer)
    closed_at = ticket.closed_at
    # when
    close_ticket(ticket=ticket, actor=developer)
    # then
    assert ticket.closed_at == closed_at
    assert AuditEvent.objects.filter(action="developers.ticket_closed").count() == 1


def test_an_operator_cannot_answer_a_closed_ticket(publisher):
    # given
    ticket = SupportTicketFactory(publisher=publisher, status=TicketStatus.CLOSED)
    # when / then
    with pytest.raises(Conflict):
        answer_ticket(ticket=ticket, actor=UserFactory(is_staff=True), body="Late answer")


def test_a_reply_after_an_answer_puts_the_ticket_back_in_the_queue(publisher, developer):
    # given
    ticket = SupportTicketFactory(publisher=publisher, status=TicketStatus.ANSWERED)
    # when
    reply_to_ticket(ticket=ticket, actor=developer, body="Thanks, one more question.")
    # then
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN


def test_a_person_without_an_organization_is_sent_to_create_one():
    # given
    client = Client()
    client.force_login(UserFactory())
    # when
    response = client.get("/developers/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/account/"
