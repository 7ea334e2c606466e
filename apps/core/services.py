"""Platform-wide maintenance operations of the kernel."""

from __future__ import annotations

from django.db import transaction

from apps.core.fields import encrypted_fields
from apps.security.services import record_audit_event


def rotate_encrypted_fields(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every encrypted value under the primary key; returns rows touched per model."""
    counts: dict[str, int] = {}
    for model, names in encrypted_fields():
        touched = 0
        pks = list(model._default_manager.values_list("pk", flat=True))
        for start in range(0, len(pks), batch_size):
            with transaction.atomic():
                rows = model._default_manager.select_for_update().filter(pk__in=pks[start : start + batch_size])
                for row in rows.only("pk", *names):
                    # Reading decrypts with whichever key fits; writing encrypts with the first key.
                    model._default_manager.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
                    touched += 1
        counts[model._meta.label] = touched
    record_audit_event(actor=None, action="core.encryption_keys_rotated", data={"rows": counts})
    return counts
