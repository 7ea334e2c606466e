"""Writes of the security app. `record_audit_event` is called explicitly by every other app's services."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from apps.core.logging import current_request_id
from apps.security.audit_chain import event_hash, normalise_data, verify_all_chains
from apps.security.models import GENESIS_HASH, PLATFORM_CHAIN, AuditChainHead, AuditEvent, AuditVerification

logger = logging.getLogger(__name__)


def describe_actor(actor: Any) -> tuple[str, str]:
    """(type, id) of whoever acted: a user, a machine principal with `audit_actor_type`, or the system."""
    if actor is None or getattr(actor, "is_anonymous", False):
        return "system", ""
    actor_type = getattr(actor, "audit_actor_type", None)
    if actor_type:
        return str(actor_type), str(actor.pk)
    return "user", str(actor.pk)


def describe_target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    if isinstance(target, tuple):
        return str(target[0]), str(target[1])
    raise TypeError(f"An audit target is a model instance or a (type, id) pair, not {type(target).__name__}.")


def record_audit_event(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to its organization's chain, inside the caller's transaction.

    `data` must hold ids and facts, never personal data such as emails or names: it is hashed
    into the chain and can never be erased.
    """
    if organization is None and isinstance(target, models.Model):
        is_tenant = target._meta.label == "accounts.Organization"
        org_id = target.pk if is_tenant else getattr(target, "organization_id", None)
    else:
        org_id = getattr(organization, "pk", organization)
    chain = str(org_id) if org_id else PLATFORM_CHAIN
    actor_type, actor_id = describe_actor(actor)
    target_type, target_id = describe_target(target)

    with transaction.atomic():
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(chain=chain, seq=0, hash=GENESIS_HASH)], ignore_conflicts=True
        )
        # The row lock on the head serialises appends per chain: two writers can never take the same seq.
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        values: dict[str, Any] = {
            "chain": chain,
            "seq": head.seq + 1,
            "organization_id": org_id,
            "occurred_at": timezone.now(),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "request_id": current_request_id() if current_request_id() != "-" else "",
            "data": normalise_data(data),
            "prev_hash": head.hash,
        }
        values["hash"] = event_hash(values)
        event = AuditEvent.objects.create(**values)
        head.seq = event.seq
        head.hash = event.hash
        head.save(update_fields=["seq", "hash", "updated_at"])
    return event


def verify_audit_chains(*, chains: list[str] | None = None) -> AuditVerification:
    """Verify every chain (or the named ones) and keep a record of the run."""
    started = timezone.now()
    result = verify_all_chains(chains)
    first = result.breaks[0] if result.breaks else None
    verification = AuditVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        chains_checked=result.chains,
        events_checked=result.events,
        ok=result.ok,
        broken_chain=first.chain if first else "",
        broken_seq=first.seq if first else None,
        reason="\n".join(str(b) for b in result.breaks),
    )
    if not result.ok:
        logger.critical("Audit chain verification failed: %s", verification.reason)
    return verification
