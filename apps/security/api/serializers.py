from rest_framework import serializers

from apps.security.models import AuditEvent


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
