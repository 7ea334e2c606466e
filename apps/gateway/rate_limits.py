"""Rate limits (GCRA) and monthly quotas, checked together in one atomic step.

GCRA (the generic cell rate algorithm) keeps one number per limiter: the theoretical arrival time (TAT)
of the next request at the sustained rate. A request is admitted when it arrives no earlier than
`TAT - burst * interval`; admitting it moves the TAT on by one interval. So a quiet client may send
`burst` requests at once, and after that one request per interval (60 s / rate per minute).

Every call checks the client's limiter, the organization's (when it has an `OrganizationLimit`) and their
monthly quota counters. In Redis all of this is one Lua script, so concurrent workers never admit more
than the limits allow and a refused request consumes nothing. Without Redis (`make run` with no
services) the same rules run in-process, per worker.

Times are integer microseconds. In Redis the script reads the server's clock unless a clock is injected
(tests), so every web worker judges by the same clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings

MICROS = 1_000_000
# Quota counters outlive their month a little, so a late request never resets them early.
QUOTA_TTL_MICROS = 35 * 24 * 3600 * MICROS


@dataclass(frozen=True)
class Rate:
    key: str
    interval_us: int
    burst: int

    @classmethod
    def per_minute(cls, key: str, *, rate_per_minute: int, burst: int) -> Rate:
        return cls(key=key, interval_us=max(1, round(60 * MICROS / rate_per_minute)), burst=burst)


@dataclass(frozen=True)
class Quota:
    key: str
    limit: int


@dataclass(frozen=True)
class Decision:
    """The outcome, with what the `RateLimit-*` headers report (for the tightest of the limiters)."""

    allowed: bool
    refused_by: str  # "", "rate" or "quota"
    limit: int
    remaining: int
    reset_us: int
    retry_after_us: int = 0
    refused_key: str = ""

    @property
    def reset_seconds(self) -> int:
        return math.ceil(self.reset_us / MICROS)

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after_us / MICROS))


class LimiterStore(Protocol):
    def check(self, rates: list[Rate], quotas: list[Quota], now_us: int | None) -> Decision: ...


_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local new_tats = {}
local limit, remaining, reset = 0, -1, 0
for i = 1, n do
  local interval = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if now < allow_at then
    return {0, 1, i, burst, 0, string.format('%.0f', tat - now), string.format('%.0f', allow_at - now)}
  end
  new_tats[i] = new_tat
  local left = math.floor((now - allow_at) / interval)
  if remaining < 0 or left < remaining then
    limit, remaining, reset = burst, left, new_tat - now
  end
end
local base = 3 + 2 * n
for j = 1, m do
  local quota = tonumber(ARGV[base + j])
  local used = tonumber(redis.call('GET', KEYS[n + j]) or '0')
  if used >= quota then
    return {0, 2, j, limit, 0, string.format('%.0f', reset), '0'}
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i], string.format('%.0f', new_tats[i]), 'PX', math.ceil((new_tats[i] - now) / 1000) + 1000)
end
for j = 1, m do
  if redis.call('INCR', KEYS[n + j]) == 1 then
    redis.call('PEXPIRE', KEYS[n + j], ARGV[base + m + 1])
  end
end
return {1, 0, 0, limit, remaining, string.format('%.0f', reset), '0'}
"""


class RedisLimiterStore:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.script = client.register_script(_LUA)

    def check(self, rates: list[Rate], quotas: list[Quota], now_us: int | None) -> Decision:
        args: list[Any] = ["" if now_us is None else now_us, len(rates), len(quotas)]
        for rate in rates:
            args += [rate.interval_us, rate.burst]
        args += [quota.limit for quota in quotas]
        args.append(QUOTA_TTL_MICROS // 1000)
        keys = [r.key for r in rates] + [q.key for q in quotas]
        allowed, kind, index, limit, remaining, reset, retry = self.script(keys=keys, args=args)
        refused_by = {0: "", 1: "rate", 2: "quota"}[int(kind)]
        refused_key = ""
        if refused_by == "rate":
            refused_key = rates[int(index) - 1].key
        elif refused_by == "quota":
            refused_key = quotas[int(index) - 1].key
        return Decision(
            allowed=bool(allowed),
            refused_by=refused_by,
            limit=int(limit),
            remaining=int(remaining),
            reset_us=int(reset),
            retry_after_us=int(retry),
            refused_key=refused_key,
        )


class MemoryLimiterStore:
    """The same rules in one process, for running without Redis. Each worker counts on its own."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.tats: dict[str, int] = {}
        self.counters: dict[str, int] = {}

    def check(self, rates: list[Rate], quotas: list[Quota], now_us: int | None) -> Decision:
        now = now_us if now_us is not None else int(self.clock() * MICROS)
        with self.lock:
            new_tats: dict[str, int] = {}
            limit, remaining, reset = 0, -1, 0
            for rate in rates:
                tat = max(self.tats.get(rate.key, now), now)
                new_tat = tat + rate.interval_us
                allow_at = new_tat - rate.interval_us * rate.burst
                if now < allow_at:
                    return Decision(
                        allowed=False,
                        refused_by="rate",
                        limit=rate.burst,
                        remaining=0,
                        reset_us=tat - now,
                        retry_after_us=allow_at - now,
                        refused_key=rate.key,
                    )
                new_tats[rate.key] = new_tat
                left = (now - allow_at) // rate.interval_us
                if remaining < 0 or left < remaining:
                    limit, remaining, reset = rate.burst, left, new_tat - now
            for quota in quotas:
                if self.counters.get(quota.key, 0) >= quota.limit:
                    return Decision(False, "quota", limit, 0, reset, refused_key=quota.key)
            self.tats.update(new_tats)
            for quota in quotas:
                self.counters[quota.key] = self.counters.get(quota.key, 0) + 1
        return Decision(True, "", limit, max(remaining, 0), reset)


@lru_cache(maxsize=4)
def _redis_store(url: str) -> RedisLimiterStore:
    import redis

    return RedisLimiterStore(redis.Redis.from_url(url))


_memory_store = MemoryLimiterStore()


def default_store() -> LimiterStore:
    url = settings.GATEWAY_REDIS_URL
    return _redis_store(url) if url else _memory_store


def month_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m")


def seconds_to_next_month(moment: datetime) -> int:
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return max(1, math.ceil((datetime(year, month, 1, tzinfo=UTC) - moment).total_seconds()))
