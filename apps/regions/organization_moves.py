"""Moving an organization to another home region: request, export, transfer, verify, switch, purge.

- request: the target must be an active region that the organization's residency rules allow.
- export: the organization is frozen (made inactive, so nobody changes it mid-move) and its rows are written
  to a bundle with a row count and a SHA-256 per table.
- transfer: the bundle is posted, HMAC-signed like directory batches, to the target region, which imports it
  in one transaction, verifies the imported audit chain and answers with the counts and hashes it computed
  from its own database.
- verify: both sides' counts and hashes must be equal.
- switch: the source records the new home region and publishes it in the directory (same transaction), so
  every region now sends the organization's requests to the target.
- purge: the source deletes the organization's rows, the people left without any organization, and the
  bundle. Audit events stay: the log is append-only and holds ids and facts only.

Every step is audited on the platform chain (the organization's own chain travels with it unchanged). Apps
whose tables belong to an organization add them to MOVED_TABLES as they arrive (connectors, sync, gateway).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Invitation, Membership, Organization, Team, TeamMembership, User
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.core.process_cache import rows_changed
from apps.regions import replication
from apps.regions.backups import backup_root, file_sha256
from apps.regions.models import MoveStatus, OrganizationMove, Region, RegionStatus
from apps.regions.peer_transport import PeerUnreachable, post_to_peer_region
from apps.regions.selectors import local_region_code
from apps.regions.services import check_residency, record_organization_placement
from apps.security.audit_chain import verify_all_chains
from apps.security.models import AuditChainHead, AuditEvent
from apps.security.services import record_audit_event

BUNDLE_FORMAT = 1
IMPORT_PATH = "/regions/organization-imports/"
OPEN_STATUSES = (MoveStatus.REQUESTED, MoveStatus.EXPORTED, MoveStatus.IMPORTED, MoveStatus.VERIFIED)
ABANDONABLE = (*OPEN_STATUSES, MoveStatus.FAILED)


class BundleEncoder(DjangoJSONEncoder):
    """Django's encoder, but datetimes keep their microseconds: audit hashes are computed over them."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


class MoveError(BusinessRuleViolation):
    """A move cannot go on; the move is marked failed with this message."""


@dataclass(frozen=True)
class MovedTable:
    """One table of an organization: how to find its rows, and the fields that must survive the move.

    `fingerprint` turns a row into what both regions hash; it names people by email, not by id, because a
    person who already has an account in the target region keeps that account.
    """

    label: str
    rows: Callable[[Any], QuerySet[Any]]
    fingerprint: Callable[[Any], dict[str, Any]]


def _user_rows(org_id: Any) -> QuerySet[Any]:
    return User.objects.filter(memberships__organization_id=org_id).distinct().order_by("email")


MOVED_TABLES: tuple[MovedTable, ...] = (
    MovedTable(
        "accounts.organization",
        lambda org_id: Organization.objects.filter(pk=org_id),
        lambda o: {"id": str(o.pk), "name": o.name, "slug": o.slug},
    ),
    MovedTable(
        "accounts.user",
        _user_rows,
        # A person who already has an account in the target keeps it (and its name and password).
        lambda u: {"email": u.email},
    ),
    MovedTable(
        "accounts.membership",
        lambda org_id: Membership.objects.filter(organization_id=org_id).select_related("user").order_by("pk"),
        lambda m: {"id": str(m.pk), "user": m.user.email, "role": m.role},
    ),
    MovedTable(
        "accounts.team",
        lambda org_id: Team.objects.filter(organization_id=org_id).order_by("pk"),
        lambda t: {"id": str(t.pk), "name": t.name, "slug": t.slug, "parent": str(t.parent_id or "")},
    ),
    MovedTable(
        "accounts.teammembership",
        lambda org_id: TeamMembership.objects.filter(team__organization_id=org_id).order_by("pk"),
        lambda tm: {"id": str(tm.pk), "team": str(tm.team_id), "membership": str(tm.membership_id)},
    ),
    MovedTable(
        "accounts.invitation",
        lambda org_id: Invitation.objects.filter(organization_id=org_id).order_by("pk"),
        lambda i: {"id": str(i.pk), "email": i.email, "role": i.role, "token_hash": i.token_hash},
    ),
    MovedTable(
        "security.auditevent",
        lambda org_id: AuditEvent.objects.filter(chain=str(org_id)).order_by("seq"),
        lambda e: {"seq": e.seq, "hash": e.hash},
    ),
    MovedTable(
        "security.auditchainhead",
        lambda org_id: AuditChainHead.objects.filter(chain=str(org_id)),
        lambda h: {"chain": h.chain, "seq": h.seq, "hash": h.hash},
    ),
)


def measure(org_id: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Row count and SHA-256 of the fingerprints of every moved table, as this region's database holds them."""
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for table in MOVED_TABLES:
        prints = sorted(
            json.dumps(table.fingerprint(row), sort_keys=True, cls=DjangoJSONEncoder) for row in table.rows(org_id)
        )
        counts[table.label] = len(prints)
        hashes[table.label] = hashlib.sha256("\n".join(prints).encode()).hexdigest()
    return counts, hashes


def _audit(move: OrganizationMove, action: str, actor: Any = None, **data: Any) -> None:
    record_audit_event(
        actor=actor,
        action=f"regions.organization_move_{action}",
        # A (type, id) target keeps the event on the platform chain: the organization's chain moves as it is.
        target=("regions.organizationmove", str(move.pk)),
        organization=None,
        data={
            "organization_id": str(move.organization_id),
            "from": move.source_region_code,
            "to": move.target_region_code,
            **data,
        },
    )


def _fail(move: OrganizationMove, message: str) -> MoveError:
    with transaction.atomic():
        OrganizationMove.objects.filter(pk=move.pk).update(status=MoveStatus.FAILED, error=message[:4000])
        move.status, move.error = MoveStatus.FAILED, message
        _audit(move, "failed", reason=message[:300])
    return MoveError(message, code="move_failed")


def _expect(move: OrganizationMove, status: str) -> None:
    if move.status != status:
        raise Conflict(f"The move is {move.status}; this step needs it {status}.", code="move_out_of_order")


# -- Source region -------------------------------------------------------------------------------------------


def request_organization_move(*, organization: Organization, target_region_code: str, actor: Any) -> OrganizationMove:
    """Open a move of an organization homed here to another active region its residency rules allow."""
    if organization.home_region_code != local_region_code():
        raise BusinessRuleViolation(
            f"{organization.slug} is homed in {organization.home_region_code}; move it from there.", code="not_home"
        )
    if target_region_code == organization.home_region_code:
        raise BusinessRuleViolation("The organization already lives there.", field="target_region", code="same_region")
    target = Region.objects.filter(code=target_region_code).first()
    if target is None or target.status != RegionStatus.ACTIVE:
        raise BusinessRuleViolation(
            f"Region {target_region_code!r} is not active.", field="target_region", code="region_not_available"
        )
    if OrganizationMove.objects.filter(organization_id=organization.pk, status__in=OPEN_STATUSES).exists():
        raise Conflict("This organization is already moving.", code="move_in_progress")
    # Moving is data leaving the region: the same rules as any transfer decide where it may go.
    check_residency(
        organization=organization, destination_location=target_region_code, actor=actor, purpose="organization move"
    )
    with transaction.atomic():
        move = OrganizationMove.objects.create(
            organization_id=organization.pk,
            organization_slug=organization.slug,
            source_region_code=local_region_code(),
            target_region_code=target_region_code,
            requested_by=actor if getattr(actor, "pk", None) else None,
        )
        _audit(move, "requested", actor)
    return move


def export_organization(*, move: OrganizationMove, actor: Any = None) -> Path:
    """Freeze the organization and write its rows, counts and hashes to a bundle in this region."""
    _expect(move, MoveStatus.REQUESTED)
    directory = backup_root() / "moves"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{move.pk}.json"
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=move.organization_id)
        organization.is_active = False
        organization.save(update_fields=["is_active", "updated_at"])
        tables = {
            table.label: serializers.serialize("python", table.rows(move.organization_id)) for table in MOVED_TABLES
        }
        counts, hashes = measure(move.organization_id)
        bundle = {
            "format": BUNDLE_FORMAT,
            "move_id": str(move.pk),
            "organization_id": str(move.organization_id),
            "source_region": move.source_region_code,
            "target_region": move.target_region_code,
            "exported_at": timezone.now().isoformat(),
            "tables": tables,
        }
        path.write_text(json.dumps(bundle, cls=BundleEncoder, sort_keys=True))
        move.bundle_file = str(path.relative_to(backup_root()))
        move.bundle_sha256 = file_sha256(path)
        move.counts, move.hashes = counts, hashes
        move.status = MoveStatus.EXPORTED
        move.save()
        _audit(move, "exported", actor, sha256=move.bundle_sha256, counts=counts)
    return path


def transfer_organization(*, move: OrganizationMove, actor: Any = None) -> None:
    """Send the bundle to the target region, which imports it and reports what it holds."""
    _expect(move, MoveStatus.EXPORTED)
    target = Region.objects.get(code=move.target_region_code)
    path = backup_root() / move.bundle_file
    if file_sha256(path) != move.bundle_sha256:
        raise _fail(move, "The bundle changed on disk after the export.")
    body = path.read_bytes()
    url = (target.replication_url or target.public_url).rstrip("/") + IMPORT_PATH
    try:
        answer = post_to_peer_region(
            url=url,
            body=body,
            headers={
                replication.SIGNATURE_HEADER: replication.sign(body),
                replication.ORIGIN_HEADER: local_region_code(),
            },
            timeout=300,
        )
        report = json.loads(answer.body)
    except (PeerUnreachable, replication.SignatureError, ValueError) as exc:
        raise _fail(move, f"The target region did not import the bundle: {exc}") from None
    with transaction.atomic():
        move.target_counts = report.get("counts", {})
        move.target_hashes = report.get("hashes", {})
        move.status = MoveStatus.IMPORTED
        move.save(update_fields=["target_counts", "target_hashes", "status", "updated_at"])
        _audit(move, "imported", actor)


def verify_organization_move(*, move: OrganizationMove, actor: Any = None) -> None:
    """Both regions must hold the same rows: equal counts and hashes for every table."""
    _expect(move, MoveStatus.IMPORTED)
    different = sorted(
        label
        for label in move.counts
        if move.counts[label] != move.target_counts.get(label) or move.hashes[label] != move.target_hashes.get(label)
    )
    if different:
        raise _fail(move, "The target holds different rows for: " + ", ".join(different))
    with transaction.atomic():
        move.status = MoveStatus.VERIFIED
        move.save(update_fields=["status", "updated_at"])
        _audit(move, "verified", actor)


def switch_organization_home(*, move: OrganizationMove, actor: Any = None) -> None:
    """Make the target the home region here and in the directory, so every region redirects there."""
    _expect(move, MoveStatus.VERIFIED)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=move.organization_id)
        organization.home_region_code = move.target_region_code
        organization.save(update_fields=["home_region_code", "updated_at"])
        record_organization_placement(organization=organization)
        move.status = MoveStatus.SWITCHED
        move.save(update_fields=["status", "updated_at"])
        _audit(move, "switched", actor)


def purge_moved_organization(*, move: OrganizationMove, actor: Any = None) -> dict[str, int]:
    """Delete the organization's rows here, and its people who now belong to no organization here."""
    _expect(move, MoveStatus.SWITCHED)
    deleted: dict[str, int] = {}
    with transaction.atomic():
        people = list(_user_rows(move.organization_id).values_list("pk", flat=True))
        for model, rows in (
            (Invitation, Invitation.objects.filter(organization_id=move.organization_id)),
            (TeamMembership, TeamMembership.objects.filter(team__organization_id=move.organization_id)),
            (Team, Team.objects.filter(organization_id=move.organization_id)),
            (Membership, Membership.objects.filter(organization_id=move.organization_id)),
            (Organization, Organization.objects.filter(pk=move.organization_id)),
        ):
            deleted[model._meta.label_lower] = _delete(model, rows)
        orphans = User.objects.filter(pk__in=people, is_staff=False, memberships__isnull=True)
        deleted["accounts.user"] = _delete(User, orphans)
        move.status = MoveStatus.PURGED
        move.finished_at = timezone.now()
        move.save(update_fields=["status", "finished_at", "updated_at"])
        _audit(move, "purged", actor, deleted=deleted)
    (backup_root() / move.bundle_file).unlink(missing_ok=True)
    return deleted


def _delete(model: type[models.Model], rows: QuerySet[Any]) -> int:
    # Teams nest (PROTECT on parent): delete children before parents.
    if model is Team:
        count = 0
        while rows.exists():
            leaves = rows.exclude(pk__in=Team.objects.filter(parent__isnull=False).values("parent_id"))
            count += leaves.delete()[1].get(model._meta.label, 0)
        return count
    return rows.delete()[1].get(model._meta.label, 0)


def abandon_organization_move(*, move: OrganizationMove, actor: Any = None) -> None:
    """Give up a move that has not switched yet: the organization stays here and is unfrozen."""
    if move.status in (MoveStatus.SWITCHED, MoveStatus.PURGED):
        raise Conflict("The move has switched already; move the organization back from the target.", code="switched")
    with transaction.atomic():
        Organization.objects.filter(pk=move.organization_id).update(is_active=True, updated_at=timezone.now())
        rows_changed("accounts.Organization")
        move.status = MoveStatus.FAILED
        move.error = (move.error + "\n" if move.error else "") + "abandoned by an operator"
        move.save(update_fields=["status", "error", "updated_at"])
        _audit(move, "abandoned", actor)


STEPS = (
    ("export", MoveStatus.REQUESTED, export_organization),
    ("transfer", MoveStatus.EXPORTED, transfer_organization),
    ("verify", MoveStatus.IMPORTED, verify_organization_move),
    ("switch", MoveStatus.VERIFIED, switch_organization_home),
    ("purge", MoveStatus.SWITCHED, purge_moved_organization),
)


def continue_move(*, move: OrganizationMove, actor: Any = None, until: str = "purge", write: Any = None) -> None:
    """Run the remaining steps of a move in order, up to and including `until`."""
    for name, status, step in STEPS:
        if move.status != status:
            continue
        if write is not None:
            write(f"{name} ...")
        step(move=move, actor=actor)
        if name == until:
            return


# -- Target region -------------------------------------------------------------------------------------------


class ImportRefused(Exception):
    """The bundle cannot be imported here (wrong region, organization already here, malformed)."""


def import_organization_bundle(bundle: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """Import a moved organization in one transaction; answer with the counts and hashes of what is now here."""
    if bundle.get("format") != BUNDLE_FORMAT or not isinstance(bundle.get("tables"), dict):
        raise ImportRefused("Not an organization bundle this region understands.")
    if bundle.get("target_region") != local_region_code():
        raise ImportRefused(f"The bundle is for region {bundle.get('target_region')}, not {local_region_code()}.")
    try:
        org_id = str(uuid.UUID(str(bundle.get("organization_id"))))
    except ValueError:
        raise ImportRefused("The bundle does not name the organization it holds.") from None
    tables: dict[str, list[dict[str, Any]]] = bundle["tables"]
    if Organization.objects.filter(pk=org_id).exists():
        raise ImportRefused("The organization exists here already.")
    try:
        with transaction.atomic():
            user_ids = _import_users(tables.get("accounts.user", []))
            for label in ("accounts.organization", "accounts.team"):
                _import_rows(label, tables.get(label, []), user_ids)
            for label in ("accounts.membership", "accounts.teammembership", "accounts.invitation"):
                _import_rows(label, tables.get(label, []), user_ids)
            _import_audit_chain(org_id, tables)
            organization = Organization.objects.get(pk=org_id)
            organization.home_region_code = local_region_code()
            organization.is_active = True
            organization.save(update_fields=["home_region_code", "is_active", "updated_at"])
            record_organization_placement(organization=organization)
            verification = verify_all_chains(chains=[str(org_id)])
            if not verification.ok:
                raise ImportRefused(f"The imported audit chain does not verify: {verification.breaks[0]}")
            record_audit_event(
                actor=None,
                action="regions.organization_imported",
                target=("accounts.organization", str(org_id)),
                data={"organization_id": str(org_id), "from": bundle.get("source_region")},
            )
            return measure(org_id)
    except (KeyError, TypeError, ValueError, ValidationError, serializers.base.DeserializationError) as exc:
        raise ImportRefused(f"The bundle is malformed: {exc}") from None


def _import_users(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Create the people who have no account here; map every exported user id to the id it has here."""
    mapping: dict[str, str] = {}
    for row in rows:
        fields = row["fields"]
        existing = User.objects.filter(email__iexact=fields["email"]).first()
        if existing is None:
            user = User(
                pk=row["pk"],
                email=fields["email"],
                full_name=fields.get("full_name", ""),
                password=fields["password"],
                is_active=fields.get("is_active", True),
            )
            user.save()
            existing = user
        mapping[str(row["pk"])] = str(existing.pk)
    return mapping


def _import_rows(label: str, rows: list[dict[str, Any]], user_ids: dict[str, str]) -> None:
    for row in rows:
        fields = row["fields"]
        for name in ("user", "invited_by", "accepted_by"):
            if fields.get(name) is not None:
                fields[name] = user_ids.get(str(fields[name]), None if name != "user" else fields[name])
    if label == "accounts.team":
        # Parents first: a team row refers to its parent.
        rows = _parents_first(rows)
    for obj in serializers.deserialize("python", rows):
        obj.save()


def _parents_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    pending = list(rows)
    while pending:
        ready = [r for r in pending if not r["fields"].get("parent") or str(r["fields"]["parent"]) in placed]
        if not ready:
            raise ValueError("the teams' parents form a cycle")
        for row in ready:
            ordered.append(row)
            placed.add(str(row["pk"]))
            pending.remove(row)
    return ordered


def _import_audit_chain(org_id: Any, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Copy the organization's audit chain as it is: same seq, same hashes, so it verifies here too."""
    events = []
    for row in tables.get("security.auditevent", []):
        fields = dict(row["fields"])
        fields["organization_id"] = fields.pop("organization", None)
        events.append(AuditEvent(pk=row["pk"], **fields))
    # Event ids come from the source's sequence; they may be taken here, and nothing refers to them.
    for event in events:
        event.pk = None
    AuditEvent.objects.bulk_create(events)
    for row in tables.get("security.auditchainhead", []):
        AuditChainHead.objects.create(chain=row["pk"], seq=row["fields"]["seq"], hash=row["fields"]["hash"])


def load_bundle(body: bytes) -> dict[str, Any]:
    try:
        bundle = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ImportRefused("The bundle is not JSON.") from None
    if not isinstance(bundle, dict):
        raise ImportRefused("The bundle is not an object.")
    return bundle
