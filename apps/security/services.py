"""Writes of the security app.

`record_audit_event` is called explicitly by every other app's services. The `observe_*` functions are how
other apps tell the detectors what happened (see docs/security/detectors.md for who calls which); the rest
manage security events, their responses, IP rules and threat feeds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from apps.core.after_response import after_response, deferring
from apps.core.batching import BatchWriter, insert_rows, lock_wait_limited
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.core.logging import current_request_id
from apps.security import detectors
from apps.security.audit_chain import event_hash, normalise_data, verify_all_chains
from apps.security.client_ip import ip_range
from apps.security.detectors import Detection
from apps.security.models import (
    GENESIS_HASH,
    PLATFORM_CHAIN,
    AccountLock,
    AuditChainHead,
    AuditEvent,
    AuditVerification,
    EventStatus,
    IPRule,
    IPRuleAction,
    LoginObservation,
    ResponseAction,
    ResponseKind,
    ResponseStatus,
    SecurityEvent,
    SecurityEventNote,
    ThreatFeed,
    ThreatFeedFormat,
    ThreatIndicator,
)
from apps.security.models.events import OPEN_STATUSES, SEVERITY_RANK
from apps.security.models.network import normalise_cidr

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


def audit_event_values(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of an event as of now, but its place in the chain (seq, prev_hash, hash)."""
    if organization is None and isinstance(target, models.Model):
        is_tenant = target._meta.label == "accounts.Organization"
        org_id = target.pk if is_tenant else getattr(target, "organization_id", None)
    else:
        org_id = getattr(organization, "pk", organization)
    actor_type, actor_id = describe_actor(actor)
    target_type, target_id = describe_target(target)
    request_id = current_request_id()
    return {
        "chain": str(org_id) if org_id else PLATFORM_CHAIN,
        "organization_id": org_id,
        "occurred_at": timezone.now(),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "request_id": request_id if request_id != "-" else "",
        "data": normalise_data(data),
    }


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
    values = audit_event_values(actor=actor, action=action, target=target, organization=organization, data=data)
    # No savepoint of its own inside a caller's transaction: an append that fails fails the caller's work too.
    with transaction.atomic(savepoint=False):
        return AuditEvent.objects.create(**_chain_events(values["chain"], [values])[0])


def record_audit_event_later(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record an event of something that has already happened outside our database (a vendor acted).

    Such an event can never be atomic with what it records. Within a request that defers its bookkeeping
    (a gateway call, see apps.core.after_response) it is taken once the response is on its way and written
    by this process's `audit_writer` in a batch within `AUDIT_WRITER_FLUSH_SECONDS`; anywhere else it is
    written now, as `record_audit_event` writes it.
    """
    event = {"actor": actor, "action": action, "target": target, "organization": organization, "data": data}
    if not deferring():
        record_audit_event(**event)
        return
    after_response(lambda: audit_writer.add(audit_event_values(**event)))


def append_audit_events(batch: list[dict[str, Any]]) -> None:
    """Append events (from `audit_event_values`) in one transaction, each chain's in the order given."""
    chains: dict[str, list[dict[str, Any]]] = {}
    for values in batch:
        chains.setdefault(values["chain"], []).append(values)
    with transaction.atomic(), lock_wait_limited(settings.AUDIT_WRITER_LOCK_TIMEOUT):
        # Heads locked in one fixed order, so two batch writers never wait on each other in a cycle. A request
        # appending to two chains may take them in the other order: the writer then gives up first.
        for chain in sorted(chains):
            insert_rows(AuditEvent, _chain_events(chain, chains[chain]))


def _chain_events(chain: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the events, chained after the chain's head, which is moved past them; the caller holds a
    transaction and inserts the rows in it."""
    # The row lock on the head serialises appends per chain: two writers can never take the same seq.
    head = _locked_chain_head(chain)
    if head is None:  # the chain's first event
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(chain=chain, seq=0, hash=GENESIS_HASH)], ignore_conflicts=True
        )
        head = _locked_chain_head(chain)
        if head is None:
            raise AuditChainHead.DoesNotExist(f"The head of audit chain {chain} could not be created.")
    seq, prev_hash = head
    rows = []
    for values in batch:
        seq += 1
        row = {**values, "chain": chain, "seq": seq, "prev_hash": prev_hash}
        row["hash"] = prev_hash = event_hash(row)
        rows.append(row)
    _advance_chain_head(chain, seq=seq, hash_=prev_hash, at=batch[-1]["occurred_at"])
    return rows


class AuditWriter(BatchWriter[dict[str, Any]]):
    """Events of `record_audit_event_later` on their way into their chains, a batch per transaction.

    One transaction (lock the head, insert, move the head on, commit) per gateway call was most of the work
    a call left behind it; a batch pays it once per chain. A worker killed without exiting loses the events
    of its last interval (see apps.core.batching), as a worker killed between a vendor's answer and the
    event's write always lost that event.
    """

    settings_prefix = "AUDIT_WRITER"
    noun = "audit event"

    def write(self, batch: list[dict[str, Any]]) -> None:
        append_audit_events(batch)

    def describe(self, row: dict[str, Any]) -> str:
        return f"({row['action']} in chain {row['chain']}, request {row['request_id'] or '-'})"


audit_writer = AuditWriter()


# Every audited action takes the head's lock and moves it on: two fixed statements, written out once rather
# than compiled by the ORM on each of the platform's busiest writes.
def _head_sql(template: str) -> str:
    return template.format(
        table=connection.ops.quote_name(AuditChainHead._meta.db_table),
        lock=" FOR UPDATE" if connection.features.has_select_for_update else "",
    )


def _locked_chain_head(chain: str) -> tuple[int, str] | None:
    """(seq, hash) of a chain's head, locked until the transaction ends; None before its first event."""
    with connection.cursor() as cursor:
        cursor.execute(_head_sql("SELECT seq, hash FROM {table} WHERE chain = %s{lock}"), [chain])
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row is not None else None


def _advance_chain_head(chain: str, *, seq: int, hash_: str, at: dt.datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _head_sql("UPDATE {table} SET seq = %s, hash = %s, updated_at = %s WHERE chain = %s"),
            [seq, hash_, connection.ops.adapt_datetimefield_value(at), chain],
        )


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
        from apps.security.detectors import audit_failure_detection

        raise_security_event(
            detection=audit_failure_detection(
                reason=verification.reason, broken_chain=verification.broken_chain, broken_seq=verification.broken_seq
            )
        )
    return verification


# -- Security events -------------------------------------------------------------------------------------


def _primary_organization(user: Any) -> Any:
    from apps.accounts.models import Membership

    membership = Membership.objects.filter(user=user).order_by("created_at").select_related("organization").first()
    return membership.organization if membership else None


def raise_security_event(*, detection: Detection) -> SecurityEvent:
    """Record what a detector found and take the responses its severity allows.

    A detection matching an open event (same rule, same subject) within the dedup window adds to that
    event instead of opening another; it takes new responses only when it raises the severity.
    """
    from apps.security.responses import allowed_responses

    now = timezone.now()
    organization = detection.organization
    if organization is None and detection.user is not None:
        organization = _primary_organization(detection.user)
    window = dt.timedelta(seconds=detectors.thresholds().dedup_window_seconds)
    with transaction.atomic():
        existing = (
            SecurityEvent.objects.select_for_update()
            .filter(dedup_key=detection.dedup_key, status__in=OPEN_STATUSES, last_seen_at__gte=now - window)
            .order_by("-last_seen_at")
            .first()
        )
        if existing is not None:
            escalated = SEVERITY_RANK[detection.severity] > SEVERITY_RANK[existing.severity]  # type: ignore[index]
            existing.occurrences += 1
            existing.last_seen_at = now
            existing.data = {**existing.data, **normalise_data(detection.data)}
            if escalated:
                existing.severity = detection.severity
                existing.title = detection.title
            existing.save(update_fields=["occurrences", "last_seen_at", "data", "severity", "title", "updated_at"])
            if escalated:
                taken = set(existing.responses.values_list("kind", flat=True))
                for kind in allowed_responses(detection.severity, detection.playbook):
                    if kind not in taken:
                        _apply(existing, kind, actor=None, automatic=True)
            return existing
        event = SecurityEvent.objects.create(
            organization=organization,
            event_type=detection.event_type,
            severity=detection.severity,
            title=detection.title[:200],
            source_ip=detection.source_ip,
            user=detection.user,
            resource_type=detection.resource_type,
            resource_id=detection.resource_id,
            data=normalise_data(detection.data),
            detection_method=detection.detection_method,
            dedup_key=detection.dedup_key,
            first_seen_at=now,
            last_seen_at=now,
        )
        record_audit_event(
            actor=None,
            action="security.event_detected",
            target=event,
            organization=organization,
            data={"event_type": event.event_type, "severity": event.severity, "user_id": event.user_id},
        )
        for kind in allowed_responses(detection.severity, detection.playbook):
            _apply(event, kind, actor=None, automatic=True)
    return event


def _apply(event: SecurityEvent, kind: str, *, actor: Any, automatic: bool) -> ResponseAction:
    from apps.security.responses import HANDLERS, Outcome

    try:
        with transaction.atomic():
            outcome = HANDLERS[kind].apply(event)
    except Exception as exc:
        logger.exception("Security response %s failed for event %s", kind, event.pk)
        outcome = Outcome(ResponseStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500], {})
    action = ResponseAction.objects.create(
        organization=event.organization,
        event=event,
        kind=kind,
        status=outcome.status,
        target=normalise_data(outcome.target),
        detail=outcome.detail,
        automatic=automatic,
        expires_at=outcome.expires_at,
    )
    record_audit_event(
        actor=actor,
        action="security.response_applied",
        target=action,
        organization=event.organization,
        data={"event_id": str(event.pk), "kind": kind, "status": outcome.status},
    )
    return action


def apply_response(*, event: SecurityEvent, kind: str, actor: Any) -> ResponseAction:
    """An operator takes a response by hand (any kind, whatever the ladder says)."""
    if kind not in ResponseKind.values:
        raise BusinessRuleViolation(f"Unknown response {kind!r}.", field="kind", code="invalid_choice")
    with transaction.atomic():
        return _apply(event, kind, actor=actor, automatic=False)


def reverse_response(*, action: ResponseAction, actor: Any) -> ResponseAction:
    """Undo a response: lift the lock, unblock the address, cancel the re-authentication ..."""
    from apps.security.responses import HANDLERS

    with transaction.atomic():
        locked = ResponseAction.objects.select_for_update().select_related("event").get(pk=action.pk)
        if locked.status == ResponseStatus.REVERSED:
            raise Conflict("This response was reversed already.", code="already_reversed")
        if locked.status != ResponseStatus.APPLIED:
            raise Conflict("Only an applied response can be reversed.", code="not_applied")
        note = HANDLERS[locked.kind].reverse(locked, actor)
        locked.status = ResponseStatus.REVERSED
        locked.reversed_at = timezone.now()
        locked.reversed_by = actor
        locked.detail = f"{locked.detail}\nReversed: {note}".strip()
        locked.save(update_fields=["status", "reversed_at", "reversed_by", "detail", "updated_at"])
        record_audit_event(
            actor=actor,
            action="security.response_reversed",
            target=locked,
            organization=locked.organization_id,
            data={"event_id": str(locked.event_id), "kind": locked.kind},
        )
    return locked


def assign_security_event(*, event: SecurityEvent, assignee: Any, actor: Any) -> SecurityEvent:
    with transaction.atomic():
        event.assigned_to = assignee
        if event.status == EventStatus.OPEN and assignee is not None:
            event.status = EventStatus.INVESTIGATING
        event.save(update_fields=["assigned_to", "status", "updated_at"])
        record_audit_event(
            actor=actor,
            action="security.event_assigned",
            target=event,
            organization=event.organization_id,
            data={"assignee_id": str(assignee.pk) if assignee else None},
        )
    return event


def resolve_security_event(
    *, event: SecurityEvent, actor: Any, resolution: str, false_positive: bool = False
) -> SecurityEvent:
    """Close an event with what was found. Responses stay in force until reversed on their own."""
    if not event.is_open:
        raise Conflict("The event is closed already.", code="already_resolved")
    with transaction.atomic():
        event.status = EventStatus.FALSE_POSITIVE if false_positive else EventStatus.RESOLVED
        event.resolved_at = timezone.now()
        event.resolved_by = actor
        event.resolution = resolution.strip()
        event.save(update_fields=["status", "resolved_at", "resolved_by", "resolution", "updated_at"])
        record_audit_event(
            actor=actor,
            action="security.event_resolved",
            target=event,
            organization=event.organization_id,
            data={"status": event.status},
        )
    return event


def add_security_event_note(*, event: SecurityEvent, author: Any, body: str) -> SecurityEventNote:
    body = body.strip()
    if not body:
        raise BusinessRuleViolation("A note needs some text.", field="body", code="required")
    with transaction.atomic():
        note = SecurityEventNote.objects.create(event=event, author=author, body=body)
        record_audit_event(
            actor=author, action="security.event_noted", target=event, organization=event.organization_id
        )
    return note


def mark_security_alerts_read(*, user: Any, organization: Any) -> int:
    """The person has seen their in-app security alerts for the organization."""
    from apps.security.models import SecurityNotification

    return SecurityNotification.objects.filter(recipient=user, organization=organization, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def lift_account_lock(*, lock: AccountLock, actor: Any) -> AccountLock:
    from apps.security.user_state import forget_user_state

    with transaction.atomic():
        lock.lifted_at = timezone.now()
        lock.lifted_by = actor
        lock.save(update_fields=["lifted_at", "lifted_by", "updated_at"])
        ResponseAction.objects.filter(target__lock_id=str(lock.pk), status=ResponseStatus.APPLIED).update(
            status=ResponseStatus.REVERSED, reversed_at=lock.lifted_at, reversed_by=actor
        )
        record_audit_event(
            actor=actor, action="security.account_unlocked", target=("accounts.user", lock.user_id), data={}
        )
        user_id = lock.user_id
        forget_user_state(user_id)
        transaction.on_commit(lambda: forget_user_state(user_id))
    return lock


# -- Observations (called by other apps; see docs/security/detectors.md) ---------------------------------


def _now(at: dt.datetime | None) -> dt.datetime:
    return at or timezone.now()


def _raise_all(found: list[Detection | None]) -> list[SecurityEvent]:
    return [raise_security_event(detection=d) for d in found if d is not None]


def observe_login(
    *,
    username: str,
    ip: str,
    success: bool,
    user: Any = None,
    organization: Any = None,
    at: dt.datetime | None = None,
) -> list[SecurityEvent]:
    """A sign-in attempt happened (password, SSO, LDAP, MFA step). Returns the events it raised."""
    location = detectors.locate_login(ip)
    with transaction.atomic():
        observation = LoginObservation.objects.create(
            at=_now(at),
            ip=ip,
            ip_range=ip_range(ip),
            account_key=detectors.account_key(username),
            user=user,
            success=success,
            country=location.get("country") or "",
            asn=location.get("asn"),
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
        )
        return _raise_all(list(detectors.login_detections(observation, organization=organization)))


def observe_api_request(
    *, client_id: str, ip: str, status: int, organization: Any = None, at: dt.datetime | None = None
) -> list[SecurityEvent]:
    """The gateway answered one call of an API client (after rate limiting decided).

    The call is counted for the usage-anomaly rule by this process's `api_call_tally` (see ApiCallTally),
    which raises that rule's events itself; what is returned is what the hammering rule raised at once.
    """
    when = _now(at)
    api_call_tally.add(ApiCall(client_id=client_id, organization=organization, ip=ip, at=when))
    if status != 429:
        return []
    return _raise_all([detectors.hammering_detection(client_id=client_id, organization=organization, ip=ip, at=when)])


@dataclass(frozen=True)
class ApiCall:
    client_id: str
    organization: Any
    ip: str
    at: dt.datetime


class ApiCallTally(BatchWriter[ApiCall]):
    """API calls counted in this process and added to the usage-anomaly rule's shared per-minute counters in
    one step per client and minute, every `SECURITY_API_TALLY_FLUSH_SECONDS` (apps.core.batching).

    Counting each call in Redis cost every gateway call a round trip, which a keep-alive client waits for on
    its next call. The rule judges a minute when the first calls of the next minute are added; another
    worker's last second of that minute may not be added yet, so a minute can be judged on up to a second
    less than all its calls. Counting is best effort, as it was per call: a count the cache refuses is
    logged and dropped, never retried (a retry could count calls twice and invent a burst), so `write`
    never raises and nothing is ever queued again (no `_MAX_PENDING` setting).
    """

    settings_prefix = "SECURITY_API_TALLY"
    noun = "API call count"

    def write(self, batch: list[ApiCall]) -> None:
        minutes: dict[tuple[int, str], list[ApiCall]] = {}
        for call in batch:
            minutes.setdefault((int(call.at.timestamp() // 60), call.client_id), []).append(call)
        for (_minute, client_id), calls in sorted(minutes.items()):  # each minute counted before the next
            last = calls[-1]
            try:
                found = detectors.usage_anomaly_detection(
                    client_id=client_id, organization=last.organization, ip=last.ip, at=last.at, calls=len(calls)
                )
                _raise_all([found])
            except Exception:
                logger.exception("Could not count or judge %s calls of API client %s", len(calls), client_id)


api_call_tally = ApiCallTally()


def observe_token_use(
    *,
    token_id: str,
    ip: str,
    kind: str = "oauth_token",
    user: Any = None,
    organization: Any = None,
    at: dt.datetime | None = None,
) -> list[SecurityEvent]:
    """A bearer credential (`oauth_token` or `api_key`) authenticated a request from `ip`."""
    detection = detectors.token_detection(
        token_id=token_id, ip=ip, at=_now(at), organization=organization, user=user, kind=kind
    )
    return _raise_all([detection])


def observe_role_change(
    *, user: Any, organization: Any, old_role: str, new_role: str, at: dt.datetime | None = None
) -> None:
    """A member's role changed; a raise is remembered for the privilege-escalation rule."""
    from apps.accounts.roles import ROLE_RANK

    if ROLE_RANK.get(new_role, 0) > ROLE_RANK.get(old_role, 0):
        detectors.remember_elevation(
            user=user, organization=organization, old_role=old_role, new_role=new_role, at=_now(at)
        )


def observe_sensitive_action(
    *, user: Any, organization: Any, action: str, at: dt.datetime | None = None
) -> list[SecurityEvent]:
    """A person did something sensitive (export, deletion, key creation, IP rule or SSO change ...)."""
    return _raise_all(
        [detectors.escalation_detection(user=user, organization=organization, action=action, at=_now(at))]
    )


def observe_export(
    *, user: Any, organization: Any, resource_type: str, records: int, at: dt.datetime | None = None
) -> list[SecurityEvent]:
    when = _now(at)
    return _raise_all(
        [
            detectors.escalation_detection(
                user=user, organization=organization, action=f"export:{resource_type}", at=when
            ),
            detectors.mass_detection(
                kind="export",
                user=user,
                organization=organization,
                resource_type=resource_type,
                records=records,
                at=when,
            ),
        ]
    )


def observe_deletion(
    *, user: Any, organization: Any, resource_type: str, records: int, at: dt.datetime | None = None
) -> list[SecurityEvent]:
    when = _now(at)
    return _raise_all(
        [
            detectors.escalation_detection(
                user=user, organization=organization, action=f"delete:{resource_type}", at=when
            ),
            detectors.mass_detection(
                kind="deletion",
                user=user,
                organization=organization,
                resource_type=resource_type,
                records=records,
                at=when,
            ),
        ]
    )


def observe_webhook_signature_failure(
    *, source: str, organization: Any = None, ip: str | None = None, at: dt.datetime | None = None
) -> list[SecurityEvent]:
    """An inbound webhook (connector, Stripe, region peer) failed its signature check."""
    return _raise_all(
        [detectors.webhook_failure_detection(source=source, organization=organization, ip=ip, at=_now(at))]
    )


def _observe_person_later(observe: Any, /, *, user: Any, **observation: Any) -> None:
    from apps.security.observers import observe_person_after_commit

    observe_person_after_commit(observe, user=user, **observation)


# -- IP rules ---------------------------------------------------------------------------------------------


def _clean_cidr(cidr: str) -> str:
    try:
        return normalise_cidr(cidr)
    except ValidationError as exc:
        raise BusinessRuleViolation(exc.messages[0], field="cidr", code="invalid_cidr") from None


def _refuse_self_lockout(organization: Any, cidr: str, action: str, requester_ip: str | None) -> None:
    """An organization's admin cannot write a rule that refuses the address they are using right now."""
    import ipaddress

    if organization is None or not requester_ip:
        return
    address = ipaddress.ip_address(requester_ip)
    inside = address in ipaddress.ip_network(cidr)
    if action == IPRuleAction.DENY and inside:
        raise BusinessRuleViolation(
            f"This rule would block your own address ({requester_ip}).", field="cidr", code="would_lock_you_out"
        )
    if action == IPRuleAction.ALLOW and not inside:
        allowed = IPRule.objects.in_force().filter(organization=organization, action=IPRuleAction.ALLOW)
        if not any(address in ipaddress.ip_network(c) for c in allowed.values_list("cidr", flat=True)):
            raise BusinessRuleViolation(
                f"Once the organization has an allow-list, only listed networks get in; yours ({requester_ip}) "
                "would not. Allow your own network first.",
                field="cidr",
                code="would_lock_you_out",
            )


def create_ip_rule(
    *,
    organization: Any,
    cidr: str,
    action: str,
    actor: Any,
    note: str = "",
    expires_at: dt.datetime | None = None,
    requester_ip: str | None = None,
) -> IPRule:
    """Allow or deny a network for one organization (or globally, with no organization: operators only).

    With `requester_ip`, a rule that would shut out the person making it is refused.
    """
    from apps.security.network_rules import bump_version

    if action not in IPRuleAction.values:
        raise BusinessRuleViolation(f"Unknown action {action!r}.", field="action", code="invalid_choice")
    if expires_at is not None and expires_at <= timezone.now():
        raise BusinessRuleViolation("The expiry is in the past.", field="expires_at", code="in_the_past")
    cidr = _clean_cidr(cidr)
    _refuse_self_lockout(organization, cidr, action, requester_ip)
    with transaction.atomic():
        rule = IPRule.objects.create(
            organization=organization,
            cidr=cidr,
            action=action,
            note=note,
            expires_at=expires_at,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record_audit_event(
            actor=actor,
            action="security.ip_rule_created",
            target=rule,
            organization=organization,
            data={"cidr": rule.cidr, "action": action},
        )
        _observe_person_later(
            observe_sensitive_action, user=actor, organization=organization, action="security.ip_rule_created"
        )
        bump_version()
    return rule


def update_ip_rule(*, rule: IPRule, actor: Any, **changes: Any) -> IPRule:
    from apps.security.network_rules import bump_version

    allowed = {"cidr", "action", "note", "expires_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise BusinessRuleViolation(f"Cannot change {', '.join(sorted(unknown))}.", code="read_only")
    if "cidr" in changes:
        changes["cidr"] = _clean_cidr(changes["cidr"])
    if "action" in changes and changes["action"] not in IPRuleAction.values:
        raise BusinessRuleViolation(f"Unknown action {changes['action']!r}.", field="action", code="invalid_choice")
    with transaction.atomic():
        for name, value in changes.items():
            setattr(rule, name, value)
        rule.save(update_fields=[*changes, "updated_at"])
        record_audit_event(
            actor=actor,
            action="security.ip_rule_updated",
            target=rule,
            organization=rule.organization_id,
            data={"fields": sorted(changes), "cidr": rule.cidr, "action": rule.action},
        )
        _observe_person_later(
            observe_sensitive_action, user=actor, organization=rule.organization, action="security.ip_rule_updated"
        )
        bump_version()
    return rule


def delete_ip_rule(*, rule: IPRule, actor: Any) -> None:
    from apps.security.network_rules import bump_version

    with transaction.atomic():
        record_audit_event(
            actor=actor,
            action="security.ip_rule_deleted",
            target=rule,
            organization=rule.organization_id,
            data={"cidr": rule.cidr, "action": rule.action},
        )
        rule.delete()
        _observe_person_later(
            observe_sensitive_action, user=actor, organization=rule.organization, action="security.ip_rule_deleted"
        )
        bump_version()


# -- Threat intelligence --------------------------------------------------------------------------------


def register_threat_feed(
    *, name: str, source: str, format: str, actor: Any = None, refresh_minutes: int = 60
) -> ThreatFeed:
    """Add a feed; it is imported by the next refresh (or at once by the caller)."""
    if format not in ThreatFeedFormat.values:
        raise BusinessRuleViolation(f"Unknown feed format {format!r}.", field="format", code="invalid_choice")
    if ThreatFeed.objects.filter(name=name).exists():
        raise Conflict("A feed with that name exists.", field="name", code="name_taken")
    with transaction.atomic():
        feed = ThreatFeed.objects.create(name=name, source=source, format=format, refresh_minutes=refresh_minutes)
        record_audit_event(actor=actor, action="security.threat_feed_registered", target=feed, data={"format": format})
    return feed


def read_feed_source(source: str) -> bytes:
    """The raw content of a feed: a URL through the outbound door, anything else a local file."""
    from apps.security.outbound import OutboundRefused, send_outbound_request

    if source.startswith(("https://", "http://")):
        response = send_outbound_request(method="GET", url=source, headers={"Accept": "*/*"})
        if response.status != 200:
            raise OutboundRefused(f"The feed answered HTTP {response.status}.")
        return response.body
    return Path(source).read_bytes()


def import_threat_feed(*, feed: ThreatFeed, content: bytes | None = None) -> ThreatFeed:
    """Replace the feed's indicators with what its source lists now. A failed read keeps the old list."""
    from apps.security.network_rules import bump_version
    from apps.security.outbound import OutboundRefused
    from apps.security.threat_intel import FeedFormatError, parse_plain, parse_stix

    now = timezone.now()
    try:
        raw = content if content is not None else read_feed_source(feed.source)
        parsed = parse_stix(raw, now=now) if feed.format == ThreatFeedFormat.STIX else parse_plain(raw)
    except (OutboundRefused, FeedFormatError, OSError) as exc:
        ThreatFeed.objects.filter(pk=feed.pk).update(last_fetched_at=now, last_error=str(exc)[:2000])
        feed.refresh_from_db()
        logger.warning("Threat feed %s could not be read: %s", feed.name, exc)
        return feed
    digest = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        feed = ThreatFeed.objects.select_for_update().get(pk=feed.pk)
        if digest != feed.last_sha256:
            feed.indicators.all().delete()
            ThreatIndicator.objects.bulk_create(
                [ThreatIndicator(feed=feed, cidr=cidr, label=label) for cidr, label in parsed.networks.items()],
                batch_size=5000,
            )
            bump_version()
        feed.last_fetched_at = now
        feed.last_error = f"{parsed.skipped} entries skipped as unreadable." if parsed.skipped else ""
        feed.last_sha256 = digest
        feed.indicator_count = len(parsed.networks)
        feed.save()
        record_audit_event(
            actor=None,
            action="security.threat_feed_imported",
            target=feed,
            data={"indicators": feed.indicator_count, "skipped": parsed.skipped, "sha256": digest},
        )
    return feed


def refresh_threat_feeds(*, force: bool = False) -> dict[str, int]:
    """Import every enabled feed that is due (or all enabled feeds with `force`)."""
    counts: dict[str, int] = {}
    for feed in ThreatFeed.objects.filter(enabled=True).order_by("name"):
        if force or feed.is_due():
            counts[feed.name] = import_threat_feed(feed=feed).indicator_count
    return counts


def purge_login_observations(*, older_than_days: int | None = None) -> int:
    """Drop sign-in observations older than the detectors look back."""
    days = older_than_days or detectors.thresholds().login_history_days
    deleted, _ = LoginObservation.objects.filter(at__lt=timezone.now() - dt.timedelta(days=days)).delete()
    return deleted
