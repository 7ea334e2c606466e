"""What the session middleware keeps in a session, and the policy it enforces.

The session carries the tracked session's id, when it signed in, when it was last used, and a snapshot of
its person's organizations' policy (timeouts, MFA) re-read every few minutes, so most requests need no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q

STARTED = "_nofx_session_started"
SEEN = "_nofx_session_seen"
POLICY = "_nofx_session_policy"
POLICY_READ = "_nofx_session_policy_read"
TRACKED = "_nofx_session_id"
METHOD = "_nofx_session_method"


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    require_mfa: bool

    def to_session(self) -> dict[str, Any]:
        return {
            "idle": int(self.idle.total_seconds()),
            "absolute": int(self.absolute.total_seconds()),
            "require_mfa": self.require_mfa,
        }

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> SessionPolicy:
        return cls(
            idle=timedelta(seconds=data["idle"]),
            absolute=timedelta(seconds=data["absolute"]),
            require_mfa=bool(data["require_mfa"]),
        )


def policy_for(user: Any) -> SessionPolicy:
    """The strictest policy among the person's active organizations (the platform defaults when none sets one)."""
    from apps.accounts.models import SecurityPolicy

    policies = SecurityPolicy.objects.filter(
        organization__is_active=True,
        organization__memberships__user=user,
        organization__memberships__is_active=True,
    )
    found = policies.aggregate(
        idle=Min("idle_timeout_minutes"),
        absolute=Min("absolute_timeout_minutes"),
        mfa=Count("pk", filter=Q(require_mfa=True)),
    )
    idle = settings.SESSION_IDLE_TIMEOUT
    absolute = settings.SESSION_ABSOLUTE_TIMEOUT
    if found["idle"]:
        idle = min(idle, timedelta(minutes=found["idle"]))
    if found["absolute"]:
        absolute = min(absolute, timedelta(minutes=found["absolute"]))
    return SessionPolicy(idle=idle, absolute=absolute, require_mfa=bool(found["mfa"]))


def mark_session_started(session: Any, tracked: Any, now: datetime) -> None:
    session[TRACKED] = str(tracked.pk)
    session[METHOD] = tracked.method
    session[STARTED] = now.timestamp()
    session[SEEN] = now.timestamp()
    session[POLICY] = policy_for(tracked.user).to_session()
    session[POLICY_READ] = now.timestamp()
