"""Operators answer publishers' support tickets here: the thread inline, an answer box, and a close action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import BusinessRuleViolation
from apps.developers import services
from apps.developers.models import SupportTicket, TicketMessage


class TicketMessageInline(admin.TabularInline[TicketMessage, SupportTicket]):
    model = TicketMessage
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "from_operator", "body")
    readonly_fields = fields
    raw_id_fields = ("author",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Answers go through the form's answer box, so the publisher is emailed and the status moves.
        return False


class SupportTicketAdminForm(forms.ModelForm[SupportTicket]):
    answer = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Saving with an answer marks the ticket answered and emails whoever opened it.",
    )

    class Meta:
        model = SupportTicket
        fields = ()


@admin.register(SupportTicket)
class SupportTicketAdmin(admin.ModelAdmin[SupportTicket]):
    form = SupportTicketAdminForm
    list_display = ("subject", "publisher", "status", "last_message_at", "created_at")
    list_filter = ("status",)
    list_select_related = ("publisher",)
    search_fields = ("subject", "publisher__slug", "publisher__name")
    raw_id_fields = ("publisher", "opened_by", "organization")
    readonly_fields = ("subject", "publisher", "organization", "opened_by", "status", "last_message_at", "closed_at")
    inlines = (TicketMessageInline,)
    actions = ("close_tickets",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: SupportTicket, form: Any, change: bool) -> None:
        answer = str(form.cleaned_data.get("answer") or "").strip()
        if not answer:
            return
        try:
            services.answer_ticket(ticket=obj, actor=request.user, body=answer)  # type: ignore[arg-type]
        except BusinessRuleViolation as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The answer is sent; the publisher is emailed.")

    @admin.action(description="Close the selected tickets")
    def close_tickets(self, request: HttpRequest, queryset: QuerySet[SupportTicket]) -> None:
        count = 0
        for ticket in queryset:
            services.close_ticket(ticket=ticket, actor=request.user)  # type: ignore[arg-type]
            count += 1
        messages.success(request, f"Closed {count} ticket(s).")
