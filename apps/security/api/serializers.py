from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.security.models import AuditEvent, IPRule, ResponseAction, SecurityEvent
from apps.security.models.network import normalise_cidr


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "seq",
            "occurred_at",
            "actor_type",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "request_id",
            "data",
            "prev_hash",
            "hash",
        )
        read_only_fields = fields


class ResponseActionSerializer(serializers.ModelSerializer[ResponseAction]):
    class Meta:
        model = ResponseAction
        fields = (
            "id",
            "event",
            "kind",
            "status",
            "automatic",
            "target",
            "detail",
            "expires_at",
            "reversed_at",
            "created_at",
        )
        read_only_fields = fields


class SecurityEventSerializer(serializers.ModelSerializer[SecurityEvent]):
    responses = ResponseActionSerializer(many=True, read_only=True)

    class Meta:
        model = SecurityEvent
        fields = (
            "id",
            "event_type",
            "severity",
            "status",
            "title",
            "source_ip",
            "user",
            "resource_type",
            "resource_id",
            "data",
            "detection_method",
            "occurrences",
            "first_seen_at",
            "last_seen_at",
            "assigned_to",
            "resolved_at",
            "resolution",
            "responses",
        )
        read_only_fields = fields


class SecurityEventResolveSerializer(serializers.Serializer[Any]):
    resolution = serializers.CharField(max_length=2000)
    false_positive = serializers.BooleanField(default=False)


class IPRuleSerializer(serializers.ModelSerializer[IPRule]):
    class Meta:
        model = IPRule
        fields = ("id", "cidr", "action", "source", "note", "expires_at", "created_at", "updated_at")
        read_only_fields = ("id", "source", "created_at", "updated_at")
        extra_kwargs: dict[str, dict[str, Any]] = {"cidr": {"validators": []}}

    def validate_cidr(self, value: str) -> str:
        try:
            return normalise_cidr(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code="invalid_cidr") from None
