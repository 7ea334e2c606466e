"""Every write of the developer portal: support tickets. Marketplace writes go through its own services."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.developers.models import SupportTicket, TicketMessage, TicketStatus
from apps.marketplace.models import Publisher
from apps.security.services import record_audit_event

MAX_SUBJECT = 160
MAX_BODY = 10000


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise BusinessRuleViolation("Write a message.", field="body", code="required")
    if len(body) > MAX_BODY:
        raise BusinessRuleViolation(f"Keep a message under {MAX_BODY} characters.", field="body", code="too_long")
    return body


def open_ticket(*, publisher: Publisher, actor: User, subject: str, body: str) -> SupportTicket:
    """Open a support ticket for the publisher with its first message."""
    subject = subject.strip()
    if not subject:
        raise BusinessRuleViolation("Give the ticket a subject.", field="subject", code="required")
    if len(subject) > MAX_SUBJECT:
        raise BusinessRuleViolation(
            f"Keep the subject under {MAX_SUBJECT} characters.", field="subject", code="too_long"
        )
    body = _clean_body(body)
    with transaction.atomic():
        now = timezone.now()
        ticket = SupportTicket.objects.create(
            organization_id=publisher.organization_id,
            publisher=publisher,
            subject=subject,
            opened_by=actor,
            last_message_at=now,
        )
        TicketMessage.objects.create(ticket=ticket, author=actor, body=body)
        record_audit_event(
            actor=actor,
            action="developers.ticket_opened",
            target=ticket,
            organization=publisher.organization_id,
        )
    return ticket


def reply_to_ticket(*, ticket: SupportTicket, actor: User, body: str) -> TicketMessage:
    """The publisher adds a message; a closed ticket is reopened by it."""
    body = _clean_body(body)
    with transaction.atomic():
        message = TicketMessage.objects.create(ticket=ticket, author=actor, body=body)
        ticket.status = TicketStatus.OPEN
        ticket.closed_at = None
        ticket.last_message_at = message.created_at
        ticket.save(update_fields=["status", "closed_at", "last_message_at", "updated_at"])
        record_audit_event(actor=actor, action="developers.ticket_replied", target=ticket)
    return message


def answer_ticket(*, ticket: SupportTicket, actor: User, body: str) -> TicketMessage:
    """An operator answers: the ticket becomes `answered` and the publisher is emailed after commit."""
    body = _clean_body(body)
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict("The ticket is closed.", code="ticket_closed")
    from apps.developers.tasks import email_ticket_answer_task

    with transaction.atomic():
        message = TicketMessage.objects.create(ticket=ticket, author=actor, body=body, from_operator=True)
        ticket.status = TicketStatus.ANSWERED
        ticket.last_message_at = message.created_at
        ticket.save(update_fields=["status", "last_message_at", "updated_at"])
        record_audit_event(actor=actor, action="developers.ticket_answered", target=ticket)
        message_id = str(message.pk)
        transaction.on_commit(lambda: email_ticket_answer_task.delay(message_id))
    return message


def close_ticket(*, ticket: SupportTicket, actor: User) -> SupportTicket:
    """Close a ticket (either side may); closing twice does nothing."""
    if ticket.status == TicketStatus.CLOSED:
        return ticket
    with transaction.atomic():
        ticket.status = TicketStatus.CLOSED
        ticket.closed_at = timezone.now()
        ticket.save(update_fields=["status", "closed_at", "updated_at"])
        record_audit_event(actor=actor, action="developers.ticket_closed", target=ticket)
    return ticket
