"""Request figures for the region's health: how many requests, how many 5xx, how slow.

Each process adds up its requests in memory and flushes the sums to the shared cache at most every few
seconds, so a request costs a lock and a few additions, not a round trip to Redis. The health sampler reads
the per-minute sums back from the cache.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache

from apps.core.cache import add_to_counter

logger = logging.getLogger(__name__)

# Upper bounds of the latency buckets, in seconds (the last one catches everything slower).
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))
FLUSH_EVERY_SECONDS = 5.0
KEEP_MINUTES = 15
_FIELDS = ("requests", "errors", *(f"le{i}" for i in range(len(LATENCY_BUCKETS))))


def _key(minute: int, name: str) -> str:
    return f"regions:traffic:{minute}:{name}"


class TrafficRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str], int] = {}
        self._last_flush = time.monotonic()

    def record(self, *, status: int, seconds: float) -> None:
        minute = int(time.time() // 60)
        bucket = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            for name in ("requests", f"le{bucket}", *(("errors",) if status >= 500 else ())):
                self._pending[(minute, name)] = self._pending.get((minute, name), 0) + 1
            due = time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        for (minute, name), value in pending.items():
            key = _key(minute, name)
            try:
                add_to_counter(key, value, timeout=KEEP_MINUTES * 60)
            except Exception:
                # Losing a few seconds of figures must never fail a request.
                logger.debug("Could not flush traffic figures", exc_info=True)
                return


recorder = TrafficRecorder()


@dataclass(frozen=True)
class TrafficSummary:
    requests: int
    error_rate: float | None
    latency_p95_seconds: float | None


def summarise(*, minutes: int = 5, now: float | None = None) -> TrafficSummary:
    """Requests, 5xx share and an upper bound of the 95th percentile latency over the last complete minutes."""
    recorder.flush()
    current = int((time.time() if now is None else now) // 60)
    window = range(current - minutes, current + 1)
    keys = [_key(m, name) for m in window for name in _FIELDS]
    values = cache.get_many(keys)
    totals = dict.fromkeys(_FIELDS, 0)
    for m in window:
        for name in _FIELDS:
            totals[name] += int(values.get(_key(m, name), 0) or 0)
    requests = totals["requests"]
    if not requests:
        return TrafficSummary(requests=0, error_rate=None, latency_p95_seconds=None)
    target = 0.95 * requests
    seen = 0
    p95 = LATENCY_BUCKETS[-2]
    for index, bound in enumerate(LATENCY_BUCKETS):
        seen += totals[f"le{index}"]
        if seen >= target:
            p95 = bound if bound != float("inf") else LATENCY_BUCKETS[-2]
            break
    return TrafficSummary(requests=requests, error_rate=totals["errors"] / requests, latency_p95_seconds=p95)
