"""Operators' views of billing: plans, licenses, purchases, the ledger (with the tax report), usage and
statements (with their CSV and payout). Actions call services."""

from __future__ import annotations

import csv
from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.billing import services
from apps.billing.models import (
    BillingPlan,
    LedgerEntry,
    License,
    PublisherAccount,
    Purchase,
    Statement,
    StripeEventReceipt,
    UsageRecord,
)
from apps.billing.views import money, statement_csv_response


@admin.register(BillingPlan)
class BillingPlanAdmin(admin.ModelAdmin[BillingPlan]):
    list_display = ("extension", "plan_id", "model", "amount", "currency", "interval", "stripe_price_id")
    list_select_related = ("extension",)
    raw_id_fields = ("extension",)
    search_fields = ("extension__slug", "plan_id", "stripe_price_id")


@admin.register(PublisherAccount)
class PublisherAccountAdmin(admin.ModelAdmin[PublisherAccount]):
    list_display = ("publisher", "stripe_account_id", "charges_enabled", "payouts_enabled", "fee_percent")
    list_select_related = ("publisher",)
    raw_id_fields = ("publisher",)
    search_fields = ("publisher__slug", "stripe_account_id")


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin[License]):
    list_display = ("organization", "extension", "plan_id", "status", "quantity", "past_due_since", "state_as_of")
    list_filter = ("status",)
    list_select_related = ("organization", "extension")
    raw_id_fields = ("organization", "extension")
    search_fields = ("extension__slug", "stripe_subscription_id", "organization__name")


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin[Purchase]):
    list_display = ("created_at", "organization", "extension", "plan", "status", "amount_total", "amount_tax")
    list_filter = ("status",)
    list_select_related = ("organization", "extension", "plan")
    raw_id_fields = ("organization", "extension", "version", "plan", "actor", "installation")
    exclude = ("config",)
    search_fields = ("stripe_session_id", "stripe_payment_intent_id")
    actions = ("refund",)

    @admin.action(description="Refund the selected purchases in full")
    def refund(self, request: HttpRequest, queryset: QuerySet[Purchase]) -> None:
        for purchase in queryset.select_related("plan", "extension__publisher", "organization"):
            try:
                services.refund_purchase(purchase=purchase, actor=request.user)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - the operator sees why each one failed
                self.message_user(request, f"{purchase.pk}: {exc}", messages.ERROR)


def tax_report_rows(entries: QuerySet[LedgerEntry]) -> list[list[str]]:
    """Tax collected per month, jurisdiction and currency, with the taxed sales: the operators' report."""
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry in entries.select_related(None).only("occurred_at", "tax_jurisdiction", "currency", "gross", "tax"):
        key = (entry.occurred_at.strftime("%Y-%m"), entry.tax_jurisdiction or "unknown", entry.currency)
        totals[key][0] += entry.gross
        totals[key][1] += entry.tax
        totals[key][2] += 1
    return [
        [period, jurisdiction, currency, money(gross), money(tax), str(count)]
        for (period, jurisdiction, currency), (gross, tax, count) in sorted(totals.items())
    ]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin[LedgerEntry]):
    list_display = ("occurred_at", "publisher", "extension", "kind", "gross", "fee", "net", "tax", "currency")
    list_filter = ("kind", "currency", "tax_jurisdiction")
    list_select_related = ("publisher", "extension")
    raw_id_fields = ("publisher", "extension", "organization", "statement")
    search_fields = ("source_id", "extension__slug")
    date_hierarchy = "occurred_at"
    actions = ("tax_report",)

    @admin.action(description="Download the tax report (CSV) of the selected lines")
    def tax_report(self, request: HttpRequest, queryset: QuerySet[LedgerEntry]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="tax-report.csv"'
        writer = csv.writer(response)
        writer.writerow(["period", "jurisdiction", "currency", "taxed_sales", "tax", "transactions"])
        writer.writerows(tax_report_rows(queryset))
        return response


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin[UsageRecord]):
    list_display = ("occurred_at", "organization", "extension", "meter", "quantity", "reported_at")
    list_select_related = ("organization", "extension")
    raw_id_fields = ("organization", "extension", "installation")
    search_fields = ("event_id",)


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin[Statement]):
    list_display = ("period_start", "publisher", "currency", "gross", "fee", "net", "status", "stripe_transfer_id")
    list_filter = ("status", "currency")
    list_select_related = ("publisher",)
    raw_id_fields = ("publisher",)
    actions = ("download_csv", "pay")

    @admin.action(description="Download the first selected statement as CSV")
    def download_csv(self, request: HttpRequest, queryset: QuerySet[Statement]) -> HttpResponse | None:
        statement = queryset.first()
        return statement_csv_response(statement) if statement else None

    @admin.action(description="Pay out the selected statements")
    def pay(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        for statement in queryset:
            services.pay_statement(statement=statement)


@admin.register(StripeEventReceipt)
class StripeEventReceiptAdmin(admin.ModelAdmin[StripeEventReceipt]):
    list_display = ("created_at", "event_id", "type", "outcome")
    search_fields = ("event_id", "type")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
