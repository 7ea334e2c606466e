"""Operations UI for connectors: configuration (secrets never shown), health and SLA, webhook deliveries."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.connectors import selectors, services
from apps.connectors.errors import ConnectorError
from apps.connectors.models import (
    Connector,
    ConnectorHealthSample,
    ConnectorManifest,
    NotificationRoute,
    WebhookDelivery,
)
from apps.core.exceptions import BusinessRuleViolation


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


def _percent(value: float | None, scale: float = 1.0) -> str:
    return f"{value * scale:.2f}%" if value is not None else "n/a"


def _millis(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "n/a"


def _sla_table(connector: Connector) -> str:
    health = selectors.connector_health(connector)
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                name,
                window["checks"],
                _percent(window["uptime_percent"]),
                _millis(window["latency_p50_ms"]),
                _millis(window["latency_p95_ms"]),
                _percent(window["error_rate"], 100),
            )
            for name, window in health["windows"].items()
        ),
    )
    return format_html(
        "<table><tr><th>window</th><th>checks</th><th>uptime</th><th>p50</th><th>p95</th><th>error rate</th></tr>"
        "{}</table>",
        rows,
    )


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin[Connector]):
    list_display = ("name", "organization", "provider", "status", "last_sync_at", "last_checked_at", "data_country")
    list_filter = ("provider", "status", "connector_type")
    search_fields = ("name", "=id", "organization__name", "organization__slug")
    list_select_related = ("organization",)
    raw_id_fields = ("organization", "manifest")
    readonly_fields = (
        "id",
        "secrets_set",
        "credentials_rotated_at",
        "status",
        "status_reason",
        "last_sync_at",
        "last_checked_at",
        "sla",
        "created_at",
        "updated_at",
    )
    exclude = ("credentials",)
    actions = ("check_health", "pause", "resume")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # Connectors are configured through the API, where the provider validates them and the change is
    # audited; operators here look, check, pause and resume.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Deleting goes through the service, so it is audited and refused (with the workflows named) while
    # integration workflows still use the connector. The delete pages already list such workflows as
    # protected objects; these cover a workflow created after the confirmation page was shown.
    def delete_model(self, request: HttpRequest, obj: Connector) -> None:
        try:
            services.delete_connector(connector=obj, actor=request.user)
        except services.ConnectorInUse as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            self.delete_model(request, connector)

    @admin.display(description="Secrets set")
    def secrets_set(self, connector: Connector) -> str:
        return ", ".join(connector.credential_fields) or "(none)"

    @admin.display(description="Health and SLA (24 h, 30 days)")
    def sla(self, connector: Connector) -> str:
        return _sla_table(connector) if connector.pk else "-"

    @admin.action(description="Check health now")
    def check_health(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset.select_related("manifest"):
            try:
                sample = services.check_connector_health(connector=connector)
            except (BusinessRuleViolation, ConnectorError) as exc:
                self.message_user(request, f"{connector}: {exc}", messages.WARNING)
                continue
            level = messages.SUCCESS if sample.ok else messages.ERROR
            self.message_user(
                request, f"{connector}: {'ok' if sample.ok else sample.detail} ({sample.latency_ms:.0f} ms)", level
            )

    @admin.action(description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            services.set_connector_paused(connector=connector, actor=request.user, paused=True)

    @admin.action(description="Resume")
    def resume(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            services.set_connector_paused(connector=connector, actor=request.user, paused=False)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ("received_at", "connector", "event_type", "status", "reason", "delivery_id")
    list_filter = ("status", "reason", "received_at")
    search_fields = ("=delivery_id", "=connector__id", "event_type", "=body_sha256")
    list_select_related = ("connector",)
    raw_id_fields = ("connector", "organization")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    # The table grows with every delivery; a full COUNT(*) on each page view would get slower every day.
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = (
        "connector",
        "organization",
        "delivery_id",
        "event_type",
        "status",
        "reason",
        "received_at",
        "processed_at",
        "remote_addr",
        "pretty_headers",
        "body",
        "body_sha256",
        "pretty_affected",
        "error",
    )
    exclude = ("headers", "affected", "dedupe_key")
    actions = ("process_again",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Headers (secrets redacted)")
    def pretty_headers(self, delivery: WebhookDelivery) -> str:
        return _pretty(delivery.headers)

    @admin.display(description="Affected records")
    def pretty_affected(self, delivery: WebhookDelivery) -> str:
        return _pretty(delivery.affected)

    @admin.action(description="Process failed deliveries again")
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.filter(status="failed").select_related("connector__manifest"):
            delivery.status = "accepted"
            services.process_webhook_delivery(delivery=delivery)
            count += 1
        self.message_user(request, f"Processed {count} deliveries again.")


@admin.register(ConnectorHealthSample)
class ConnectorHealthSampleAdmin(admin.ModelAdmin[ConnectorHealthSample]):
    list_display = ("checked_at", "connector", "ok", "latency_ms", "status_code", "error_code")
    list_filter = ("ok", "error_code", "checked_at")
    search_fields = ("=connector__id", "connector__name")
    list_select_related = ("connector",)
    raw_id_fields = ("connector",)
    date_hierarchy = "checked_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConnectorManifest)
class ConnectorManifestAdmin(admin.ModelAdmin[ConnectorManifest]):
    list_display = ("name", "title", "version", "organization", "updated_at")
    search_fields = ("name", "title", "organization__name")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    readonly_fields = ("document_sha256", "pretty_document", "created_at", "updated_at")
    exclude = ("document",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Manifests are validated by the service; they are created through the API.
        return False

    @admin.display(description="Document")
    def pretty_document(self, manifest: ConnectorManifest) -> str:
        return _pretty(manifest.document)


@admin.register(NotificationRoute)
class NotificationRouteAdmin(admin.ModelAdmin[NotificationRoute]):
    list_display = ("name", "organization", "connector", "channel", "min_severity", "is_active")
    list_filter = ("is_active", "min_severity")
    search_fields = ("name", "channel", "organization__name")
    list_select_related = ("organization", "connector")
    raw_id_fields = ("organization", "connector")
