from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.scoping import OrganizationScopedRelatedField
from apps.gateway.credentials import normalise_fingerprint, parse_networks
from apps.gateway.models import (
    ApiClient,
    ApiKey,
    CertificateAuthority,
    ClientCertificate,
    ClientStatus,
    Plan,
    UsageDay,
    UsageRecord,
)
from apps.gateway.scopes import SCOPE_CHOICES
from apps.gateway.services import MAX_ROTATION_OVERLAP
from apps.gateway.transforms import validate_transform

KEY_STATUSES = [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]


def _scopes_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_CHOICES), max_length=50, **kwargs)


def _check_allowlist(value: list[str]) -> list[str]:
    try:
        return [str(network) for network in parse_networks(value)]
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from exc


def _check_transform(value: Any) -> Any:
    problems = validate_transform(value)
    if problems:
        raise serializers.ValidationError(problems)
    return value


@extend_schema_field(
    {
        "type": "object",
        "description": "Per action name (or `*`): a list of steps, each one of "
        "`{rename: {path: path}}`, `{select: [path]}`, `{default: {path: value}}`, `{jmespath: expression}`.",
        "additionalProperties": {"type": "array", "items": {"type": "object"}},
    }
)
class TransformField(serializers.JSONField):
    pass


class PlanSerializer(serializers.ModelSerializer[Plan]):
    class Meta:
        model = Plan
        fields = ("slug", "name", "rate_per_minute", "burst", "monthly_quota")
        read_only_fields = fields


class ApiClientSerializer(serializers.ModelSerializer[ApiClient]):
    plan = PlanSerializer(read_only=True)
    allowed_scopes = _scopes_field(read_only=True)
    ip_allowlist = serializers.ListField(child=serializers.CharField(), read_only=True)
    request_transform = TransformField(read_only=True)
    response_transform = TransformField(read_only=True)

    class Meta:
        model = ApiClient
        fields = (
            "id",
            "name",
            "description",
            "owner",
            "plan",
            "allowed_scopes",
            "ip_allowlist",
            "status",
            "request_transform",
            "response_transform",
            "oauth_client_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ApiClientWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    allowed_scopes = _scopes_field(required=False)
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100, help_text="CIDR blocks."
    )
    request_transform = TransformField(required=False)
    response_transform = TransformField(required=False)

    def validate_ip_allowlist(self, value: list[str]) -> list[str]:
        return _check_allowlist(value)

    def validate_request_transform(self, value: Any) -> Any:
        return _check_transform(value)

    def validate_response_transform(self, value: Any) -> Any:
        return _check_transform(value)


class ApiClientUpdateSerializer(ApiClientWriteSerializer):
    name = serializers.CharField(max_length=120, required=False)
    status = serializers.ChoiceField(choices=ClientStatus.choices, required=False)


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    prefix = serializers.CharField(source="display_prefix", read_only=True, help_text="The key's public part.")
    status = serializers.ChoiceField(choices=KEY_STATUSES, read_only=True)
    scopes = _scopes_field(read_only=True)

    class Meta:
        model = ApiKey
        fields: tuple[str, ...] = (
            "id",
            "client",
            "name",
            "prefix",
            "environment",
            "scopes",
            "status",
            "expires_at",
            "revoked_at",
            "revoked_reason",
            "last_used_at",
            "replaces",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


class ApiKeyWithTokenSerializer(ApiKeySerializer):
    token = serializers.SerializerMethodField(help_text="The whole key. Shown this once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "token")
        read_only_fields = fields

    def get_token(self, key: ApiKey) -> str:
        token: str = self.context["token"]
        return token


class ApiKeyCreateSerializer(serializers.Serializer[Any]):
    client = OrganizationScopedRelatedField(queryset=ApiClient.objects.all())
    name = serializers.CharField(max_length=120)
    scopes = _scopes_field(required=False, help_text="Defaults to all of the client's allowed scopes.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyRotateSerializer(serializers.Serializer[Any]):
    overlap_seconds = serializers.IntegerField(
        min_value=0,
        max_value=int(MAX_ROTATION_OVERLAP.total_seconds()),
        default=86400,
        help_text="How long the old key keeps working beside the new one.",
    )


class RevokeSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ClientCertificateSerializer(serializers.ModelSerializer[ClientCertificate]):
    status = serializers.ChoiceField(choices=KEY_STATUSES, read_only=True)

    class Meta:
        model = ClientCertificate
        fields = (
            "id",
            "client",
            "name",
            "fingerprint_sha256",
            "subject",
            "not_after",
            "status",
            "revoked_at",
            "revoked_reason",
            "created_at",
        )
        read_only_fields = fields


class ClientCertificateCreateSerializer(serializers.Serializer[Any]):
    client = OrganizationScopedRelatedField(queryset=ApiClient.objects.all())
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    certificate_pem = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    fingerprint_sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs["certificate_pem"].strip()) == bool(attrs["fingerprint_sha256"].strip()):
            raise serializers.ValidationError("Give either the certificate's PEM or its SHA-256 fingerprint.")
        if attrs["fingerprint_sha256"] and normalise_fingerprint(attrs["fingerprint_sha256"]) is None:
            raise serializers.ValidationError({"fingerprint_sha256": "A SHA-256 fingerprint is 64 hex digits."})
        return attrs


class CertificateAuthoritySerializer(serializers.ModelSerializer[CertificateAuthority]):
    class Meta:
        model = CertificateAuthority
        fields = ("id", "name", "fingerprint_sha256", "subject", "not_after", "revoked_at", "created_at")
        read_only_fields = fields


class CertificateAuthorityCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    certificate_pem = serializers.CharField(max_length=20000)


class UsageRecordSerializer(serializers.ModelSerializer[UsageRecord]):
    latency_ms = serializers.SerializerMethodField()

    class Meta:
        model = UsageRecord
        fields = (
            "id",
            "occurred_at",
            "client",
            "credential",
            "key_id",
            "method",
            "operation",
            "status_code",
            "latency_ms",
            "bytes_in",
            "bytes_out",
            "request_id",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_latency_ms(self, record: UsageRecord) -> float:
        return round(record.latency_us / 1000, 3)


class UsageDaySerializer(serializers.ModelSerializer[UsageDay]):
    average_latency_ms = serializers.FloatField(read_only=True)
    max_latency_ms = serializers.SerializerMethodField()

    class Meta:
        model = UsageDay
        fields = (
            "day",
            "client",
            "calls",
            "client_errors",
            "throttled",
            "server_errors",
            "bytes_in",
            "bytes_out",
            "average_latency_ms",
            "max_latency_ms",
            "rolled_up_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_max_latency_ms(self, day: UsageDay) -> float:
        return round(day.latency_us_max / 1000, 3)
