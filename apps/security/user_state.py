"""Per-person security state read on every authenticated request: locked? must sign in again?

Read from the shared cache (one key per person), rebuilt from the database on a miss and forgotten
whenever a lock or a re-authentication requirement changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from apps.security.models import AccountLock, ReauthRequirement

# Entries are forgotten on every change, so they can live long; the lock's end is compared on each read.
TTL_SECONDS = 24 * 3600
SESSION_AUTH_AT = "_security_authenticated_at"


@dataclass(frozen=True)
class UserSecurityState:
    locked_until: float | None
    reauth_after: float | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now().timestamp()


def _key(user_id: Any) -> str:
    return f"security:user-state:{user_id}"


def user_security_state(user_id: Any) -> UserSecurityState:
    cached = cache.get(_key(user_id))
    if cached is not None:
        return UserSecurityState(*cached)
    now = timezone.now()
    lock = (
        AccountLock.objects.filter(user_id=user_id, lifted_at__isnull=True, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    reauth = (
        ReauthRequirement.objects.filter(user_id=user_id, cancelled_at__isnull=True)
        .order_by("-required_at")
        .values_list("required_at", flat=True)
        .first()
    )
    state = UserSecurityState(
        locked_until=lock.timestamp() if lock else None, reauth_after=reauth.timestamp() if reauth else None
    )
    cache.set(_key(user_id), (state.locked_until, state.reauth_after), timeout=TTL_SECONDS)
    return state


def forget_user_state(user_id: Any) -> None:
    if user_id is not None:
        cache.delete(_key(user_id))


def is_locked(user_id: Any) -> bool:
    return user_security_state(user_id).locked
