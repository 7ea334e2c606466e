"""Per-process copies of rows read on every API call and changed rarely, dropped everywhere when they change.

An API key with its client, plan and organization, the residency rules of a region, an organization's
limits: the gateway needs them on every call, and they change a few times a day. Each process keeps its
own copy; a generation number in the shared cache (Redis in production) says when the copies went stale.
Saving or deleting any watched model bumps it, at once and again when the transaction commits (a process
that reloaded in between, from the old rows, reloads again), and every lookup compares its copy's
generation with the current one: one cache round trip instead of the queries.

What keeps the copies honest:

- a value loaded inside a transaction is not kept: it may hold rows the transaction will roll back;
- copies are stored pickled, so every caller gets objects of its own to change;
- no copy is used after `max_age` seconds whatever the generation says, so a change the signals cannot
  see (a queryset `update()`, SQL typed by an operator) is picked up within that time; writes of our
  own that bypass the signals call `bump()`;
- a process compares generations at most every `PROCESS_CACHE_RECHECK_SECONDS` (1 s by default, 0 in the
  tests): a change made in one worker reaches the others within that delay, and in the worker that made
  it at once;
- the generation starts from the clock, so a cache that lost the number (restart, eviction) cannot hand
  back one that an old copy still carries.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")

_WATCHERS: dict[str, list[ProcessCache]] = {}


class ProcessCache:
    """Copies of one kind of lookup, keyed by what the lookup is about, kept while `watch`ed models rest."""

    def __init__(self, name: str, *, watch: tuple[str, ...], max_age: float = 60.0, max_entries: int = 10_000):
        self.name = name
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[int, float, bytes]] = {}
        self._known_generation: int | None = None
        self._checked_at = 0.0
        for label in watch:
            _WATCHERS.setdefault(label.lower(), []).append(self)
            # The one place we listen to our own models' signals (the house rule is explicit service calls): an
            # invalidation that a single forgotten write path (a service, an admin form, a fixture load) could
            # skip would leave a revoked key working. It changes no data, so it hides no business logic.
            # Per model, not for every sender: a receiver for all models would stop Django's fast bulk deletes.
            post_save.connect(
                self._changed, sender=label, weak=False, dispatch_uid=f"process-cache:{name}:{label}:save"
            )
            post_delete.connect(
                self._changed, sender=label, weak=False, dispatch_uid=f"process-cache:{name}:{label}:delete"
            )

    @property
    def generation_key(self) -> str:
        return f"process-cache:{self.name}:generation"

    def generation(self) -> int:
        current = cache.get(self.generation_key)
        if current is None:
            cache.add(self.generation_key, time.time_ns(), timeout=None)
            current = cache.get(self.generation_key)
        return int(current or 0)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The copy for `key`, or `load()`'s answer (kept for the next call when it is safe to keep)."""
        if transaction.get_connection().in_atomic_block:
            return load()
        now = time.monotonic()
        generation = self._known_generation
        if generation is None or now - self._checked_at >= settings.PROCESS_CACHE_RECHECK_SECONDS:
            generation = self._known_generation = self.generation()
            self._checked_at = now
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation and now - entry[1] < self.max_age:
            value: T = pickle.loads(entry[2])  # noqa: S301 - bytes this process pickled itself
            return value
        value = load()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (generation, now, pickle.dumps(value))
        return value

    def bump(self) -> None:
        """The watched rows changed: every process's copies are stale (again after the commit, if any)."""
        self._bump_now()
        connection = transaction.get_connection()
        if connection.in_atomic_block:
            transaction.on_commit(self._bump_now)

    def _bump_now(self) -> None:
        self.clear_local()
        try:
            cache.incr(self.generation_key)
        except ValueError:  # never set, or evicted: any fresh number differs from every kept copy's
            cache.set(self.generation_key, time.time_ns(), timeout=None)

    def _changed(self, **_kwargs: Any) -> None:
        self.bump()

    def clear_local(self) -> None:
        """Forget this process's copies (the shared generation stays as it is)."""
        self._entries.clear()
        self._known_generation = None


def rows_changed(label: str) -> None:
    """Rows of a model changed behind the signals' back (a queryset `update()`): bump whoever watches it."""
    for process_cache in _WATCHERS.get(label.lower(), ()):
        process_cache.bump()


def clear_all_local_copies() -> None:
    """Forget every process cache's copies in this process (tests that truncate tables call this)."""
    for caches in _WATCHERS.values():
        for process_cache in caches:
            process_cache.clear_local()
