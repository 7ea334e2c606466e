"""Writes about regions: registering them, their status, organization placement, the directory, residency.

Other apps call these: `apps.accounts` records placements when it creates an organization, and every place
where an organization's data leaves the control plane calls `check_residency()` first.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from prometheus_client import Counter

from apps.core.exceptions import BusinessRuleViolation
from apps.regions import replication
from apps.regions.models import DirectoryEntry, DirectoryKind, Region, RegionStatus, ResidencyRule, RuleEffect
from apps.regions.residency import ResidencyViolation, decide, normalise_location
from apps.regions.selectors import local_region_code, residency_rules_for
from apps.security.services import record_audit_event

logger = logging.getLogger(__name__)

RESIDENCY_REFUSALS = Counter(
    "nofx_residency_refusals",
    "Transfers refused because a residency rule forbids the destination.",
    ["home_region", "destination"],
)

__all__ = [
    "ResidencyViolation",
    "check_in_region",
    "check_residency",
    "publish_directory_entry",
    "record_organization_placement",
    "register_region",
    "set_region_status",
]


# -- Regions ---------------------------------------------------------------------------------------------------


def register_region(
    *,
    code: str,
    name: str,
    public_url: str,
    actor: Any = None,
    status: str | None = None,
    certifications: list[str] | None = None,
    replication_url: str | None = None,
) -> Region:
    """Create a region or update its description; a change is replicated to every peer region."""
    values: dict[str, Any] = {"name": name.strip(), "public_url": public_url.rstrip("/")}
    if status is not None:
        if status not in RegionStatus.values:
            raise BusinessRuleViolation(f"Unknown region status {status!r}.", field="status", code="invalid_choice")
        values["status"] = status
    if certifications is not None:
        values["certifications"] = sorted({c.strip() for c in certifications if c.strip()})
    if replication_url is not None:
        values["replication_url"] = replication_url.rstrip("/")
    with transaction.atomic():
        region = Region.objects.select_for_update().filter(code=code).first()
        created = region is None
        if region is None:
            region = Region(code=code)
        changed = sorted(name for name, value in values.items() if getattr(region, name) != value)
        if not created and not changed:
            return region
        for field_name, value in values.items():
            setattr(region, field_name, value)
        region.directory_version = replication.next_version(region.directory_version)
        region.full_clean()
        region.save()
        record_audit_event(
            actor=actor,
            action="regions.region_registered" if created else "regions.region_updated",
            target=region,
            data={"code": region.code, "fields": changed, "status": region.status},
        )
        replication.enqueue_change(
            kind=replication.REGION_KIND,
            key=region.code,
            version=region.directory_version,
            payload=replication.region_payload(region),
        )
        if created and region.code != local_region_code():
            # A new peer has never seen our directory: owe it everything, not only what changes from now on.
            transaction.on_commit(lambda: _send_snapshot(region.code))
    return region


def _send_snapshot(code: str) -> None:
    region = Region.objects.filter(code=code).first()
    if region is not None:
        replication.enqueue_snapshot(region=region)


def set_region_status(*, region: Region, status: str, reason: str = "", actor: Any = None) -> Region:
    """Mark a region active, degraded, failed or standby (failover does this; operators may too)."""
    if status not in RegionStatus.values:
        raise BusinessRuleViolation(f"Unknown region status {status!r}.", field="status", code="invalid_choice")
    with transaction.atomic():
        locked = Region.objects.select_for_update().get(pk=region.pk)
        previous = locked.status
        if previous == status and locked.status_reason == reason:
            return locked
        locked.status = status
        locked.status_reason = reason[:300]
        locked.directory_version = replication.next_version(locked.directory_version)
        locked.save(update_fields=["status", "status_reason", "directory_version", "updated_at"])
        record_audit_event(
            actor=actor,
            action="regions.region_status_changed",
            target=locked,
            data={"code": locked.code, "from": previous, "to": status},
        )
        replication.enqueue_change(
            kind=replication.REGION_KIND,
            key=locked.code,
            version=locked.directory_version,
            payload=replication.region_payload(locked),
        )
    region.status, region.status_reason = locked.status, locked.status_reason
    return locked


# -- The directory ------------------------------------------------------------------------------------------------


def publish_directory_entry(
    *,
    kind: str,
    key: str,
    region_code: str,
    slug: str = "",
    data: dict[str, Any] | None = None,
    deleted: bool = False,
) -> DirectoryEntry:
    """Record a globally visible fact (a publisher, a catalog entry ...) and replicate it.

    Call inside the transaction that makes the change: the entry and its outbox message commit with it.
    """
    if kind not in DirectoryKind.values:
        raise BusinessRuleViolation(f"Unknown directory kind {kind!r}.", field="kind", code="invalid_choice")
    with transaction.atomic():
        entry = DirectoryEntry.objects.select_for_update().filter(kind=kind, key=key).first()
        if entry is None:
            entry = DirectoryEntry(kind=kind, key=key, version=0)
        entry.slug = slug
        entry.region_code = region_code
        entry.data = data or {}
        entry.is_deleted = deleted
        entry.version = replication.next_version(entry.version)
        entry.origin_region_code = local_region_code()
        entry.save()
        replication.enqueue_change(kind=kind, key=key, version=entry.version, payload=replication.entry_payload(entry))
    return entry


def record_organization_placement(*, organization: Any) -> DirectoryEntry:
    """Publish an organization's home region to every region; call in the transaction that sets it."""
    return publish_directory_entry(
        kind=DirectoryKind.ORGANIZATION,
        key=str(organization.pk),
        slug=organization.slug,
        region_code=organization.home_region_code,
        data={"is_active": bool(organization.is_active)},
    )


# -- Residency ----------------------------------------------------------------------------------------------------


def check_residency(*, organization: Any, destination_location: str, actor: Any = None, purpose: str = "") -> None:
    """Refuse, with ResidencyViolation and a recorded security event, data leaving to a forbidden location.

    Call it before an organization's records leave the control plane (a sync write, a gateway call, an
    export) with the destination's declared location code (e.g. the connector's `eu-west`). The refusal is
    audited in the caller's transaction: a caller that rolls back its own transaction after catching the
    violation must record its failure outside of it, or the audit event goes with the rollback.
    """
    location = normalise_location(destination_location)
    rules = residency_rules_for(region_code=organization.home_region_code, organization_id=organization.pk)
    decision = decide(rules, location)
    if decision.allowed:
        return
    rule_id = str(decision.rule.pk) if decision.rule is not None else None
    with transaction.atomic():
        record_audit_event(
            actor=actor,
            action="regions.residency_refused",
            target=organization,
            organization=organization,
            data={
                "destination_location": location[:64],
                "home_region": organization.home_region_code,
                "rule_id": rule_id,
                "purpose": purpose[:100],
            },
        )
    RESIDENCY_REFUSALS.labels(home_region=organization.home_region_code, destination=location[:64] or "-").inc()
    logger.warning(
        "Residency refused: organization %s (home %s) to %r: %s",
        organization.pk,
        organization.home_region_code,
        location,
        decision.reason,
    )
    shown = location or "an undeclared location"
    raise ResidencyViolation(
        f"This organization's data may not be sent to {shown}: {decision.reason}.",
        destination_location=location,
        rule_id=rule_id,
    )


def check_in_region(*, destination_location: str, what: str) -> None:
    """Exports and backups stay in this region: refuse any other destination location."""
    location = normalise_location(destination_location)
    if location != local_region_code():
        raise ResidencyViolation(
            f"{what} must stay in region {local_region_code()}, not go to {location or 'an undeclared location'}.",
            destination_location=location,
            rule_id=None,
        )


def add_residency_rule(
    *,
    region: Region,
    effect: str,
    location_pattern: str,
    reason: str,
    organization: Any = None,
    actor: Any = None,
) -> ResidencyRule:
    """Add a rule limiting where data of the region's organizations (or of one organization) may go."""
    if effect not in RuleEffect.values:
        raise BusinessRuleViolation(f"Unknown effect {effect!r}.", field="effect", code="invalid_choice")
    pattern = location_pattern.strip().lower()
    if not pattern or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-*?" for c in pattern):
        raise BusinessRuleViolation(
            "A location pattern uses lower-case letters, digits, '-' and the wildcards '*' and '?'.",
            field="location_pattern",
            code="invalid",
        )
    if not reason.strip():
        raise BusinessRuleViolation("Say why the rule exists; refusals show it.", field="reason", code="required")
    with transaction.atomic():
        rule = ResidencyRule.objects.create(
            region=region, organization=organization, effect=effect, location_pattern=pattern, reason=reason.strip()
        )
        record_audit_event(
            actor=actor,
            action="regions.residency_rule_added",
            target=rule,
            organization=organization,
            data={"region": region.code, "effect": effect, "pattern": pattern},
        )
    return rule


def set_residency_rule_active(*, rule: ResidencyRule, active: bool, actor: Any = None) -> ResidencyRule:
    if rule.is_active == active:
        return rule
    with transaction.atomic():
        rule.is_active = active
        rule.save(update_fields=["is_active", "updated_at"])
        record_audit_event(
            actor=actor,
            action="regions.residency_rule_enabled" if active else "regions.residency_rule_disabled",
            target=rule,
            organization=rule.organization,
            data={"region": rule.region.code, "pattern": rule.location_pattern},
        )
    return rule
