"""Background work of the developer portal: thin, idempotent tasks that take ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from apps.developers.models import TicketMessage


@shared_task(
    name="apps.developers.tasks.email_ticket_answer_task",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
)
def email_ticket_answer_task(message_id: str) -> bool:
    """Tell whoever opened the ticket that an operator answered. At worst a retry sends the mail twice."""
    message = (
        TicketMessage.objects.select_related("ticket", "ticket__opened_by", "ticket__publisher")
        .filter(pk=message_id, from_operator=True)
        .first()
    )
    if message is None:
        return False
    ticket = message.ticket
    recipient = ticket.opened_by.email if ticket.opened_by is not None else ""
    if not recipient:
        return False
    context = {
        "ticket": ticket,
        "message": message,
        "ticket_url": settings.SITE_URL + reverse("developers:ticket", args=[ticket.pk]),
        "SITE_NAME": settings.SITE_NAME,
    }
    send_mail(
        subject=f"Re: {ticket.subject}",
        message=render_to_string("developers/email/ticket_answered.txt", context),
        from_email=None,
        recipient_list=[recipient],
    )
    return True
