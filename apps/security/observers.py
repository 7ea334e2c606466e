"""How other apps hand an observation to the detectors without ever being broken by them.

The `observe_*` services of `apps.security.services` can fail (the cache is down, a detector has a bug);
the sign-in, API call or webhook that was observed must go on regardless. `observe_quietly()` logs the
failure instead of raising it. Inside the caller's transaction the observation runs in a savepoint, so a
failed query of a detector leaves that transaction usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def observe_quietly(observe: Callable[..., Any], /, **observation: Any) -> None:
    """Call `observe(**observation)`; log, never raise, when it fails."""
    try:
        if transaction.get_connection().in_atomic_block:
            # Inside the caller's transaction: a savepoint keeps it usable if the detector's queries fail.
            with transaction.atomic():
                observe(**observation)
        else:
            # Outside one, the detectors' writes are atomic on their own; no transaction to protect.
            observe(**observation)
    except Exception:
        logger.exception("Security observation %s failed", getattr(observe, "__name__", observe))


def address_of(request: HttpRequest | None) -> str | None:
    """The caller's address as the security app sees it (trusted proxies honoured); None without a request."""
    if request is None or not hasattr(request, "META"):
        return None
    from apps.security.client_ip import client_ip

    return client_ip(request)


def acting_person(actor: Any) -> Any | None:
    """The actor when a person acted; None for API clients, OAuth apps and the system.

    The escalation and mass-data rules follow people (their responses lock accounts and end sessions).
    """
    from django.contrib.auth import get_user_model

    return actor if isinstance(actor, get_user_model()) else None


def observe_person_after_commit(observe: Callable[..., Any], /, *, user: Any, **observation: Any) -> None:
    """Observe what a person did once the surrounding transaction commits (never for a rolled-back action)."""
    person = acting_person(user)
    if person is None:
        return
    transaction.on_commit(lambda: observe_quietly(observe, user=person, **observation))
