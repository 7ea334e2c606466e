"""The registry of automated responses and the ladder that decides which ones a severity allows.

Each handler applies one kind of response to an event and can undo it. A detector proposes a playbook;
the ladder (`SECURITY_RESPONSE_LADDER`) keeps only what the event's severity allows, so a low-severity
detection never locks anyone out.

Revoking OAuth tokens and API keys belongs to the identity and gateway apps: they register their
revokers with `register_credential_revoker()` in their AppConfig.ready() (the identity app also registers
one for the sessions it tracks). Without a registered revoker, token and key responses are recorded on
the event as "not available".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from apps.security.models import (
    AccountLock,
    IPRule,
    IPRuleAction,
    IPRuleSource,
    ReauthRequirement,
    ResponseAction,
    ResponseKind,
    ResponseStatus,
    SecurityEvent,
    SecurityNotification,
    Severity,
)

DEFAULT_LADDER: dict[str, tuple[str, ...]] = {
    Severity.LOW: (ResponseKind.NOTIFY,),
    Severity.MEDIUM: (ResponseKind.NOTIFY, ResponseKind.REQUIRE_REAUTH),
    Severity.HIGH: tuple(ResponseKind.values),
    Severity.CRITICAL: tuple(ResponseKind.values),
}

# How long a lock or a block lasts, by severity (the cool-off: it lapses by itself).
DEFAULT_DURATIONS: dict[str, dt.timedelta] = {
    Severity.LOW: dt.timedelta(minutes=15),
    Severity.MEDIUM: dt.timedelta(minutes=30),
    Severity.HIGH: dt.timedelta(hours=1),
    Severity.CRITICAL: dt.timedelta(hours=24),
}


def allowed_responses(severity: str, playbook: tuple[str, ...]) -> list[str]:
    ladder: dict[str, tuple[str, ...]] = getattr(settings, "SECURITY_RESPONSE_LADDER", None) or DEFAULT_LADDER
    allowed = set(ladder.get(severity, ()))
    return [kind for kind in playbook if kind in allowed]


def duration_for(severity: str) -> dt.timedelta:
    minutes: dict[str, int] = getattr(settings, "SECURITY_RESPONSE_DURATION_MINUTES", {}) or {}
    if severity in minutes:
        return dt.timedelta(minutes=minutes[severity])
    return DEFAULT_DURATIONS[severity]


@dataclass
class Outcome:
    status: str
    detail: str
    target: dict[str, Any]
    expires_at: dt.datetime | None = None


# -- Credential revokers (filled in by the identity and gateway apps) -------------------------------------


@dataclass(frozen=True)
class CredentialRevoker:
    revoke: Callable[..., str]
    restore: Callable[..., str] | None = None


_REVOKERS: dict[str, CredentialRevoker] = {}


def register_credential_revoker(
    kind: str, *, revoke: Callable[..., str], restore: Callable[..., str] | None = None
) -> None:
    """Plug in revocation of `revoke_sessions`, `revoke_tokens` or `revoke_api_keys`.

    `revoke(*, event, user_id, credential_id, client_id)` revokes and returns a one-line description;
    `restore(*, action)` undoes it when an operator reverses the response (None: not reversible).
    A sessions revoker ends the sessions the identity app tracks; sessions it does not know of are
    still deleted from the session store here.
    """
    if kind not in (ResponseKind.REVOKE_SESSIONS, ResponseKind.REVOKE_TOKENS, ResponseKind.REVOKE_API_KEYS):
        raise ValueError(f"No credential revoker kind {kind!r}.")
    _REVOKERS[kind] = CredentialRevoker(revoke=revoke, restore=restore)


def unregister_credential_revoker(kind: str) -> None:
    _REVOKERS.pop(kind, None)


# -- Handlers ------------------------------------------------------------------------------------------------


def invalidate_user_state(user_id: Any) -> None:
    from apps.security.user_state import forget_user_state

    # Now and after commit: a request in between may have cached the state as it was before.
    forget_user_state(user_id)
    transaction.on_commit(lambda: forget_user_state(user_id))


def _notify(event: SecurityEvent) -> Outcome:
    from apps.security.notifications import alert_recipients, deliver_alert_later

    recipients = alert_recipients(event)
    SecurityNotification.objects.bulk_create(
        [SecurityNotification(organization=event.organization, recipient=r, event=event) for r in recipients]
    )
    channels = deliver_alert_later(event, recipients)
    return Outcome(
        ResponseStatus.APPLIED,
        f"Alerted {len(recipients)} people in-app" + (f"; queued {', '.join(channels)}" if channels else ""),
        {"recipients": [str(r.pk) for r in recipients], "channels": ["in_app", *channels]},
    )


def _reverse_notify(action: ResponseAction, operator: Any) -> str:
    SecurityNotification.objects.filter(event=action.event, read_at__isnull=True).update(read_at=timezone.now())
    return "An alert cannot be unsent; its in-app copies were marked read."


def _require_reauth(event: SecurityEvent) -> Outcome:
    if event.user_id is None:
        return Outcome(ResponseStatus.NOT_AVAILABLE, "No person is linked to this event.", {})
    requirement = ReauthRequirement.objects.create(user_id=event.user_id, event=event)
    invalidate_user_state(event.user_id)
    return Outcome(
        ResponseStatus.APPLIED,
        "Every session signed in before now must sign in again.",
        {"user_id": str(event.user_id), "requirement_id": str(requirement.pk)},
    )


def _reverse_reauth(action: ResponseAction, operator: Any) -> str:
    ReauthRequirement.objects.filter(pk=action.target.get("requirement_id"), cancelled_at__isnull=True).update(
        cancelled_at=timezone.now()
    )
    invalidate_user_state(action.target.get("user_id"))
    return "Re-authentication is no longer required."


def _lock_account(event: SecurityEvent) -> Outcome:
    if event.user_id is None:
        return Outcome(ResponseStatus.NOT_AVAILABLE, "No known account is linked to this event.", {})
    until = timezone.now() + duration_for(event.severity)
    lock = AccountLock.objects.create(user_id=event.user_id, event=event, reason=event.title[:200], locked_until=until)
    invalidate_user_state(event.user_id)
    return Outcome(
        ResponseStatus.APPLIED,
        f"Sign-in refused until {until:%Y-%m-%d %H:%M} UTC.",
        {"user_id": str(event.user_id), "lock_id": str(lock.pk)},
        expires_at=until,
    )


def _reverse_lock(action: ResponseAction, operator: Any) -> str:
    AccountLock.objects.filter(pk=action.target.get("lock_id"), lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=operator
    )
    invalidate_user_state(action.target.get("user_id"))
    return "The lock was lifted; the person can sign in again."


def delete_sessions_of(user_id: Any) -> int:
    """Delete the database sessions that belong to one person (the default session engine)."""
    from django.contrib.auth import SESSION_KEY

    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        if str(session.get_decoded().get(SESSION_KEY)) == str(user_id):
            doomed.append(session.session_key)
    Session.objects.filter(session_key__in=doomed).delete()
    return len(doomed)


def _revoke_sessions(event: SecurityEvent) -> Outcome:
    if event.user_id is None:
        return Outcome(ResponseStatus.NOT_AVAILABLE, "No person is linked to this event.", {})
    revoker = _REVOKERS.get(ResponseKind.REVOKE_SESSIONS)
    ended = ""
    if revoker is not None:
        ended = revoker.revoke(event=event, user_id=str(event.user_id), credential_id=None, client_id=None) + " "
    deleted = delete_sessions_of(event.user_id)
    # Sessions kept outside the database (signed cookies, cache) are refused by the re-auth check too.
    requirement = ReauthRequirement.objects.create(user_id=event.user_id, event=event)
    invalidate_user_state(event.user_id)
    return Outcome(
        ResponseStatus.APPLIED,
        f"{ended}Deleted {deleted} other stored sessions.".strip(),
        {"user_id": str(event.user_id), "sessions": deleted, "requirement_id": str(requirement.pk)},
    )


def _reverse_sessions(action: ResponseAction, operator: Any) -> str:
    _reverse_reauth(action, operator)
    return "Ended sessions cannot be restored; the person simply signs in again."


def _revoke_credentials(kind: str) -> Callable[[SecurityEvent], Outcome]:
    def handler(event: SecurityEvent) -> Outcome:
        target = {
            "user_id": str(event.user_id) if event.user_id else None,
            "credential_id": event.resource_id if event.resource_type in ("api_key", "oauth_token") else None,
            "client_id": event.resource_id if event.resource_type == "gateway.apiclient" else None,
        }
        revoker = _REVOKERS.get(kind)
        if revoker is None:
            owner = "gateway" if kind == ResponseKind.REVOKE_API_KEYS else "identity"
            return Outcome(
                ResponseStatus.NOT_AVAILABLE,
                f"No revoker is installed: the {owner} app provides it (register_credential_revoker).",
                target,
            )
        detail = revoker.revoke(event=event, **target)
        return Outcome(ResponseStatus.APPLIED, detail, target)

    return handler


def _reverse_credentials(kind: str) -> Callable[[ResponseAction, Any], str]:
    def reverse(action: ResponseAction, operator: Any) -> str:
        revoker = _REVOKERS.get(kind)
        if revoker is None or revoker.restore is None:
            return "Revoked credentials cannot be restored; issue new ones."
        return revoker.restore(action=action)

    return reverse


def _block_ip(event: SecurityEvent) -> Outcome:
    from apps.security.network_rules import bump_version

    if not event.source_ip:
        return Outcome(ResponseStatus.NOT_AVAILABLE, "No source address is linked to this event.", {})
    until = timezone.now() + duration_for(event.severity)
    host = f"{event.source_ip}/{32 if ':' not in event.source_ip else 128}"
    rule = IPRule.objects.create(
        organization=None,
        cidr=host,
        action=IPRuleAction.DENY,
        source=IPRuleSource.RESPONSE,
        note=f"{event.event_type} ({event.pk})"[:200],
        expires_at=until,
        event=event,
    )
    bump_version()
    return Outcome(
        ResponseStatus.APPLIED,
        f"Requests from {event.source_ip} are refused until {until:%Y-%m-%d %H:%M} UTC.",
        {"ip": event.source_ip, "rule_id": str(rule.pk)},
        expires_at=until,
    )


def _reverse_block(action: ResponseAction, operator: Any) -> str:
    from apps.security.network_rules import bump_version

    IPRule.objects.filter(pk=action.target.get("rule_id"), disabled_at__isnull=True).update(disabled_at=timezone.now())
    bump_version()
    return f"Requests from {action.target.get('ip')} are accepted again."


@dataclass(frozen=True)
class ResponseHandler:
    apply: Callable[[SecurityEvent], Outcome]
    reverse: Callable[[ResponseAction, Any], str]


HANDLERS: dict[str, ResponseHandler] = {
    ResponseKind.NOTIFY: ResponseHandler(_notify, _reverse_notify),
    ResponseKind.REQUIRE_REAUTH: ResponseHandler(_require_reauth, _reverse_reauth),
    ResponseKind.LOCK_ACCOUNT: ResponseHandler(_lock_account, _reverse_lock),
    ResponseKind.REVOKE_SESSIONS: ResponseHandler(_revoke_sessions, _reverse_sessions),
    ResponseKind.REVOKE_TOKENS: ResponseHandler(
        _revoke_credentials(ResponseKind.REVOKE_TOKENS), _reverse_credentials(ResponseKind.REVOKE_TOKENS)
    ),
    ResponseKind.REVOKE_API_KEYS: ResponseHandler(
        _revoke_credentials(ResponseKind.REVOKE_API_KEYS), _reverse_credentials(ResponseKind.REVOKE_API_KEYS)
    ),
    ResponseKind.BLOCK_IP: ResponseHandler(_block_ip, _reverse_block),
}
