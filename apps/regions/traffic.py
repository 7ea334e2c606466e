"""Request figures for the region's health: how many requests, how many 5xx, how slow.

Each request hands its figures to this process's recorder, a background writer (`apps.core.batching`): a
request costs a list append. Every `REGIONS_TRAFFIC_FLUSH_SECONDS` (5 s) the recorder's thread adds the
sums of what gathered to the shared per-minute counters in the cache; the health sampler reads them back.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from dataclasses import dataclass

from django.core.cache import cache

from apps.core.batching import BatchWriter
from apps.core.cache import add_to_counter

logger = logging.getLogger(__name__)

# Upper bounds of the latency buckets, in seconds (the last one catches everything slower).
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))
KEEP_MINUTES = 15
_FIELDS = ("requests", "errors", *(f"le{i}" for i in range(len(LATENCY_BUCKETS))))


def _key(minute: int, name: str) -> str:
    return f"regions:traffic:{minute}:{name}"


# One request: the minute it ended in, its latency bucket, whether it was a server error.
Hit = tuple[int, int, bool]


class TrafficRecorder(BatchWriter[Hit]):
    settings_prefix = "REGIONS_TRAFFIC"
    noun = "traffic figure"

    def record(self, *, status: int, seconds: float) -> None:
        self.add((int(time.time() // 60), bisect.bisect_left(LATENCY_BUCKETS, seconds), status >= 500))

    def write(self, batch: list[Hit]) -> None:
        sums: Counter[tuple[int, str]] = Counter()
        for minute, bucket, error in batch:
            sums[(minute, "requests")] += 1
            sums[(minute, f"le{bucket}")] += 1
            if error:
                sums[(minute, "errors")] += 1
        for (minute, name), value in sums.items():
            try:
                add_to_counter(_key(minute, name), value, timeout=KEEP_MINUTES * 60)
            except Exception:
                # Counters are never retried (a retry could count twice); a few seconds of figures are lost.
                logger.warning("Could not add this process's traffic figures; dropped them", exc_info=True)
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
