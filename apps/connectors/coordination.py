"""State that every worker must share: the Redis connection and named locks.

With REDIS_URL set, locks are Redis locks (all processes agree); without it (the embedded demo, SQLite
tests) they fall back to locks inside this process, which is all a single-process run needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any

from django.conf import settings

KEY_PREFIX = "nofx:connectors"


@cache
def _redis_for(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def shared_redis() -> Any | None:
    """The Redis client for shared connector state, or None when the deployment has no Redis."""
    url = getattr(settings, "REDIS_URL", "")
    return _redis_for(url) if url else None


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


class LockTimeout(Exception):
    """Another worker held the lock for longer than we were willing to wait."""


@contextmanager
def named_lock(name: str, *, timeout: float = 30.0, wait: float = 30.0) -> Iterator[None]:
    """Hold `name` across every worker (Redis) or every thread of this process (no Redis).

    `timeout` bounds how long a crashed holder can keep the lock; `wait` how long we queue for it.
    """
    client = shared_redis()
    if client is not None:
        lock = client.lock(f"{KEY_PREFIX}:lock:{name}", timeout=timeout, blocking_timeout=wait)
        if not lock.acquire():
            raise LockTimeout(f"Could not take lock {name!r} within {wait} s.")
        try:
            yield
        finally:
            # It may have expired meanwhile (LockNotOwnedError): then there is nothing left to release.
            with suppress(Exception):
                lock.release()
        return
    with _local_locks_guard:
        local = _local_locks.setdefault(name, threading.Lock())
    if not local.acquire(timeout=wait):
        raise LockTimeout(f"Could not take lock {name!r} within {wait} s.")
    try:
        yield
    finally:
        local.release()
