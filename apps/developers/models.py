"""The developer portal's own tables: publishers' support tickets and the messages on them.

Everything else the portal shows (publishers, extensions, versions, analytics) belongs to the marketplace.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel, OrganizationOwnedModel


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class SupportTicket(OrganizationOwnedModel):
    """A publisher's question to the platform's operators; operators answer it in the admin."""

    publisher = models.ForeignKey("marketplace.Publisher", on_delete=models.CASCADE, related_name="support_tickets")
    subject = models.CharField(max_length=160)
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-last_message_at", "-created_at")

    def __str__(self) -> str:
        return self.subject


class TicketMessage(BaseModel):
    """One message on a ticket, from the publisher's side or from an operator."""

    ticket = models.ForeignKey(SupportTicket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=10000)
    from_operator = models.BooleanField(default=False)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"message on {self.ticket_id}"
