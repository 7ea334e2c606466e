"""The tamper-evident audit log.

Each organization has its own chain (platform-level events share the `platform` chain). Every event
carries `seq` (1, 2, 3 ... with no gaps), the previous event's hash and its own hash over a canonical
JSON of its content, so any edit, deletion or reordering breaks verification at a known `seq`.
"""

from __future__ import annotations

from django.db import models

from apps.core.models import OrganizationScopedQuerySet

PLATFORM_CHAIN = "platform"
GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One thing that happened. Append-only: PostgreSQL refuses UPDATE, DELETE and TRUNCATE on this table."""

    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=64, help_text="The organization's id, or `platform`.")
    seq = models.PositiveBigIntegerField()
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="Kept without a foreign-key constraint: the log outlives what it describes.",
    )
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=32, help_text="user, api_client, system, scim ...")
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ("chain", "seq")
        constraints = [models.UniqueConstraint(fields=("chain", "seq"), name="security_auditevent_chain_seq")]
        indexes = [
            models.Index(fields=("organization", "-occurred_at")),
            models.Index(fields=("target_type", "target_id")),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """The latest `seq` and hash of each chain; its row lock serialises appends so chains never fork."""

    chain = models.CharField(max_length=64, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} at {self.seq}"


class AuditVerification(models.Model):
    """A record of each verification run, so compliance checks can see when the log was last proven intact."""

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    chains_checked = models.PositiveIntegerField()
    events_checked = models.PositiveBigIntegerField()
    ok = models.BooleanField()
    broken_chain = models.CharField(max_length=64, blank=True)
    broken_seq = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ("-finished_at",)
        get_latest_by = "finished_at"

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'BROKEN'} at {self.finished_at:%Y-%m-%d %H:%M}"


class AuditCheckpoint(models.Model):
    """Where each hourly signed checkpoint was written. The signed document itself lives outside the database.

    This row is only an index for operators: verification reads the documents from their storage and
    trusts nothing here.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    name = models.CharField(max_length=255, unique=True, help_text="The document's name in the checkpoint storage.")
    key_id = models.CharField(max_length=32, help_text="First 16 bytes (hex) of SHA-256 of the public key.")
    chains = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the document as written.")

    class Meta:
        ordering = ("-created_at",)
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return self.name
