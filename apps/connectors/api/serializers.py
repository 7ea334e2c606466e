from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from apps.connectors.models import (
    Connector,
    ConnectorManifest,
    ConnectorStatus,
    ConnectorType,
    DeliveryStatus,
    NotificationRoute,
    WebhookDelivery,
)
from apps.connectors.providers import PROVIDERS
from apps.core.scoping import OrganizationScopedRelatedField

SEVERITIES = ("info", "warning", "error", "critical")


class ConnectorSerializer(serializers.ModelSerializer[Connector]):
    """A connector as the API shows it: every setting, never a secret (only the names of those set)."""

    credential_fields = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Names of the secrets that are set."
    )
    webhook_url = serializers.SerializerMethodField(help_text="Where the external system sends webhooks.")
    connector_type = serializers.ChoiceField(choices=ConnectorType.choices, read_only=True)
    status = serializers.ChoiceField(choices=ConnectorStatus.choices, read_only=True)

    class Meta:
        model = Connector
        fields = (
            "id",
            "name",
            "provider",
            "manifest",
            "connector_type",
            "base_url",
            "settings",
            "credential_fields",
            "credentials_rotated_at",
            "capabilities",
            "rate_limit",
            "retry_policy",
            "timeout_seconds",
            "data_region",
            "data_country",
            "status",
            "status_reason",
            "last_sync_at",
            "last_checked_at",
            "webhook_url",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_webhook_url(self, connector: Connector) -> str:
        return settings.SITE_URL + reverse("connectors:webhook", kwargs={"connector_id": connector.pk})


class _ConnectorWriteFields(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)
    base_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    settings = serializers.DictField(required=False, help_text="The provider's settings (see its settings_schema).")
    capabilities = serializers.ListField(
        child=serializers.CharField(max_length=80), required=False, help_text="Actions to offer; default all."
    )
    rate_limit = serializers.DictField(required=False, help_text="requests_per_second, burst, reserve, max_wait.")
    retry_policy = serializers.DictField(
        required=False, help_text="max_attempts, base_delay, max_delay, max_retry_after."
    )
    timeout_seconds = serializers.FloatField(required=False, min_value=1, max_value=120)
    data_region = serializers.CharField(max_length=32, required=False, allow_blank=True)
    data_country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)


class ConnectorCreateSerializer(_ConnectorWriteFields):
    provider = serializers.ChoiceField(choices=sorted(PROVIDERS))
    manifest = OrganizationScopedRelatedField(
        queryset=ConnectorManifest.objects.all(), required=False, allow_null=True, help_text="For `custom` connectors."
    )
    credentials = serializers.DictField(
        write_only=True, required=False, help_text="Secrets (tokens, passwords, webhook secrets). Write-only."
    )


class ConnectorUpdateSerializer(_ConnectorWriteFields):
    name = serializers.CharField(max_length=120, required=False)
    credentials = serializers.DictField(
        write_only=True, required=False, help_text="Secrets to set; keys not given keep their value. Write-only."
    )


class CredentialRotationSerializer(serializers.Serializer[Any]):
    credentials = serializers.DictField(write_only=True)
    merge = serializers.BooleanField(default=False, help_text="Keep secrets not named here (default: replace all).")


class HealthSampleSerializer(serializers.Serializer[Any]):
    checked_at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    status_code = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField()
    detail = serializers.CharField()


class SlaWindowSerializer(serializers.Serializer[Any]):
    checks = serializers.IntegerField()
    uptime_percent = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(allow_null=True)
    latency_p50_ms = serializers.FloatField(allow_null=True)
    latency_p95_ms = serializers.FloatField(allow_null=True)


class SlaWindowsSerializer(serializers.Serializer[Any]):
    last_24h = SlaWindowSerializer(source="24h")
    last_30d = SlaWindowSerializer(source="30d")


class ConnectorHealthSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ConnectorStatus.choices)
    status_reason = serializers.CharField()
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_sync_at = serializers.DateTimeField(allow_null=True)
    last_check = HealthSampleSerializer(allow_null=True)
    windows = SlaWindowsSerializer()


class ObjectTypeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    title = serializers.CharField()
    id_field = serializers.CharField()
    updated_field = serializers.CharField(allow_null=True)
    incremental = serializers.BooleanField()
    operations = serializers.ListField(child=serializers.CharField())
    schema = serializers.DictField(help_text="JSON Schema of a record.")


class ActionSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    permission = serializers.CharField(help_text="The permission a caller needs to run it.")
    enabled = serializers.BooleanField(help_text="Whether this connector offers it (its capabilities).")
    input_schema = serializers.DictField()
    output_schema = serializers.DictField()


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields: tuple[str, ...] = (
            "id",
            "connector",
            "delivery_id",
            "event_type",
            "status",
            "reason",
            "received_at",
            "processed_at",
            "remote_addr",
            "affected",
            "error",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    class Meta(WebhookDeliverySerializer.Meta):
        fields: tuple[str, ...] = (*WebhookDeliverySerializer.Meta.fields, "headers", "body", "body_sha256")
        read_only_fields: tuple[str, ...] = fields


class ConnectorManifestSerializer(serializers.ModelSerializer[ConnectorManifest]):
    # A manifest is a JSON object (the format of /schemas/connector-manifest.schema.json); null is refused.
    document = serializers.DictField(help_text="The manifest, validated against the connector manifest schema.")

    class Meta:
        model = ConnectorManifest
        fields = (
            "id",
            "name",
            "title",
            "version",
            "document",
            "document_sha256",
            "installed_from",
            "is_active",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "name",
            "title",
            "version",
            "document_sha256",
            "installed_from",
            "is_active",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "installed_from": {"help_text": "`marketplace:<installation id>` when an installed extension brought it."},
            "is_active": {"help_text": "False once its extension is uninstalled: no new connectors may use it."},
        }


class NotificationRouteSerializer(serializers.ModelSerializer[NotificationRoute]):
    connector = OrganizationScopedRelatedField(queryset=Connector.objects.all())
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=120),
        required=False,
        help_text='e.g. ["sync.*", "security.event"]; default all.',
    )
    min_severity = serializers.ChoiceField(choices=SEVERITIES, default="info")

    class Meta:
        model = NotificationRoute
        fields = ("id", "name", "connector", "channel", "event_types", "min_severity", "is_active", "created_at")
        read_only_fields = ("id", "is_active", "created_at")
        extra_kwargs = {"name": {"required": False, "help_text": "Defaults to the channel."}}


class ProviderSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    title = serializers.CharField()
    connector_type = serializers.CharField()
    default_base_url = serializers.CharField()
    settings_schema = serializers.DictField()
    credentials_schema = serializers.DictField()
    object_types = serializers.ListField(child=serializers.CharField())
    actions = serializers.ListField(child=serializers.CharField())
    notification_channel = serializers.BooleanField()
