"""The shared rate budget of each connection, built from what the vendor's own headers say.

Every call takes a slot first (`acquire`) and hands back the vendor's rate headers when it returns
(`release`). The state per connection: how many calls the vendor still allows in its current window
(`X-RateLimit-Remaining` / `RateLimit-Remaining` / `Sforce-Limit-Info`), when that window resets, a
"blocked until" set by `Retry-After` or a limited answer, our own pacing (GCRA, from the connector's
`requests_per_second`) and the calls in flight. In-flight calls are subtracted from what the vendor
reports, because the vendor has not counted them yet: that is what keeps N workers from overshooting.
Within one window only the lowest count the vendor reported is believed (answers arrive out of order),
and each such answer recomputes the budget instead of only lowering it: a call subtracted as in flight
although the vendor had counted it already is given back by the next, fresher answer, so the budget
never overshoots and does not strand calls the vendor would still accept.

With REDIS_URL the state lives in Redis and one Lua script makes each step atomic, so every worker
process shares one budget per connection, and each worker takes its slots a lease at a time
(`LeasedRateBudget`); without Redis, the same algorithm runs in-process.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from apps.connectors.coordination import KEY_PREFIX, shared_redis
from apps.connectors.policies import RateLimitPolicy
from apps.connectors.timestamps import parse_http_date, parse_timestamp
from apps.core.batching import BatchWriter

# A call that has not come back after this long is presumed lost (its worker died) and stops counting.
INFLIGHT_TTL = 120.0
# When a quota with no announced reset (Salesforce's daily allocation) is spent, look again this often.
PROBE_INTERVAL = 60.0
# Two reset times this close belong to the same window (vendors round them differently).
SAME_WINDOW = 0.5
# A lease of slots is never more than this fraction of what the vendor has left (1/8).
LEASE_SHARE = 8


@dataclass(frozen=True)
class RateObservation:
    """What one response said about the vendor's limit."""

    remaining: int | None = None
    limit: int | None = None
    reset_at: float | None = None
    retry_after: float | None = None
    limited: bool = False


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from `Retry-After`: delta seconds (fractions accepted) or an HTTP date."""
    if not value:
        return None
    seconds = _number(value.strip())
    if seconds is not None:
        return max(seconds, 0.0)
    moment = parse_http_date(value)
    return max(moment.timestamp() - now, 0.0) if moment else None


def _reset_moment(value: str, now: float) -> float | None:
    number = _number(value)
    if number is not None:
        # Epoch seconds (GitHub, GitLab) are huge; small numbers are seconds from now (IETF draft style).
        return number if number > 1_000_000_000 else now + number
    moment = parse_timestamp(value)  # Jira sends ISO 8601
    return moment.timestamp() if moment else None


def parse_rate_headers(headers: Any, *, now: float, status: int) -> RateObservation | None:
    """Read every rate-limit header style our vendors use; None when the response carries none."""

    def first(*names: str) -> str:
        for name in names:
            value = headers.get(name)
            if value:
                return str(value)
        return ""

    remaining = _number(first("x-ratelimit-remaining", "ratelimit-remaining"))
    limit = _number(first("x-ratelimit-limit", "ratelimit-limit"))
    reset_raw = first("x-ratelimit-reset", "ratelimit-reset")
    reset_at = _reset_moment(reset_raw, now) if reset_raw else None
    usage = first("sforce-limit-info")
    if usage and "api-usage=" in usage:
        used_text, _, limit_text = usage.split("api-usage=", 1)[1].split(",")[0].partition("/")
        used, total = _number(used_text), _number(limit_text)
        if used is not None and total is not None:
            remaining, limit = total - used, total
    retry_after = parse_retry_after(first("retry-after"), now)
    limited = status == 429 or (remaining is not None and remaining <= 0 and status in (403, 429))
    if remaining is None and limit is None and reset_at is None and retry_after is None and not limited:
        return None
    return RateObservation(
        remaining=int(remaining) if remaining is not None else None,
        limit=int(limit) if limit is not None else None,
        reset_at=reset_at,
        retry_after=retry_after,
        limited=limited,
    )


class RateBudget(Protocol):
    def acquire(self, key: str, token: str, *, now: float, policy: RateLimitPolicy) -> float:
        """0 when the call may go now (a slot is taken), else seconds to wait before asking again."""
        ...

    def release(self, key: str, token: str, *, now: float, observation: RateObservation | None) -> None: ...

    def snapshot(self, key: str) -> dict[str, Any]: ...


@dataclass
class _State:
    remaining: float | None = None
    limit: float | None = None
    reset: float | None = None
    previous_reset: float | None = None
    block: float | None = None
    tat: float | None = None
    lowest: float | None = None
    inflight: dict[str, float] = field(default_factory=dict)


class LocalRateBudget:
    """The budget inside one process, for deployments without Redis. Same algorithm as the Lua below."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, token: str, *, now: float, policy: RateLimitPolicy) -> float:
        with self._lock:
            state = self._states.setdefault(key, _State())
            if state.block is not None and state.block > now:
                return state.block - now
            state.inflight = {t: at for t, at in state.inflight.items() if at > now - INFLIGHT_TTL}
            inflight = len(state.inflight)
            if state.reset is not None and now >= state.reset:
                state.remaining = state.limit - inflight if state.limit is not None else None
                state.previous_reset, state.reset, state.lowest = state.reset, None, None
            if state.remaining is not None and state.remaining <= policy.reserve:
                if state.reset is not None:
                    return state.reset - now
                if inflight:
                    return 0.05
                state.reset, state.limit = now + PROBE_INTERVAL, None
                return PROBE_INTERVAL
            if policy.requests_per_second:
                emission = 1 / policy.requests_per_second
                new_tat = max(state.tat or now, now) + emission
                if new_tat - now > emission * policy.burst:
                    return new_tat - now - emission * policy.burst
                state.tat = new_tat
            if state.remaining is not None:
                state.remaining -= 1
            state.inflight[token] = now
            return 0.0

    def release(self, key: str, token: str, *, now: float, observation: RateObservation | None) -> None:
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.inflight.pop(token, None)
            state.inflight = {t: at for t, at in state.inflight.items() if at > now - INFLIGHT_TTL}
            if observation is None:
                return
            until = None
            if observation.retry_after is not None:
                until = now + observation.retry_after
            elif observation.limited and observation.reset_at is not None:
                until = observation.reset_at
            if until is not None and (state.block is None or until > state.block):
                state.block = until
            if observation.remaining is None:
                return
            fresh = observation.remaining - len(state.inflight)
            reset_at = observation.reset_at
            if reset_at is not None:
                stale = reset_at <= now or (
                    state.previous_reset is not None and reset_at <= state.previous_reset + SAME_WINDOW
                )
                if stale or (state.reset is not None and reset_at < state.reset - SAME_WINDOW):
                    pass
                elif state.reset is not None and abs(reset_at - state.reset) <= SAME_WINDOW:
                    if state.lowest is None or observation.remaining < state.lowest:
                        state.remaining, state.lowest = fresh, observation.remaining
                else:
                    state.remaining, state.reset, state.lowest = fresh, reset_at, observation.remaining
            else:
                state.remaining = fresh
            if observation.limit is not None:
                state.limit = observation.limit

    def snapshot(self, key: str) -> dict[str, Any]:
        with self._lock:
            state = self._states.get(key, _State())
            return {
                "remaining": state.remaining,
                "limit": state.limit,
                "reset": state.reset,
                "block": state.block,
                "inflight": len(state.inflight),
            }


_SETTLE_AND_TAKE = """
-- One step on a connection's budget: finished calls leave the in-flight set, what the vendor said is
-- applied, then up to as many slots as names were sent are taken.
-- KEYS: the state hash, the in-flight sorted set.
-- ARGV: now, requests per second, burst, reserve, in-flight TTL, probe interval, lease share; the number of
-- finished calls and their names; the number of observations and six fields each (moment, remaining, limit,
-- reset, retry-after, limited); the names of the slots wanted. Returns {slots taken, seconds to wait}.
local now = tonumber(ARGV[1])
local rps, burst, reserve = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, probe, share = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local i = 8
local finished = tonumber(ARGV[i])
for j = 1, finished do redis.call('ZREM', KEYS[2], ARGV[i + j]) end
i = i + finished + 1
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local observed = tonumber(ARGV[i])
i = i + 1
for _ = 1, observed do
  local at, remaining, limit = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local reset_at, retry_after, limited = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), ARGV[i + 5] == '1'
  i = i + 6
  local s = redis.call('HMGET', KEYS[1], 'reset', 'block', 'prev', 'low')
  local reset, block, prev, low = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
  local untilt = nil
  if retry_after then untilt = at + retry_after elseif limited and reset_at then untilt = reset_at end
  if untilt and (not block or untilt > block) then redis.call('HSET', KEYS[1], 'block', untilt) end
  if remaining then
    local fresh = remaining - redis.call('ZCARD', KEYS[2])
    if reset_at then
      local stale = reset_at <= at or (prev and reset_at <= prev + 0.5) or (reset and reset_at < reset - 0.5)
      if stale then
      elseif reset and math.abs(reset_at - reset) <= 0.5 then
        if low == nil or remaining < low then redis.call('HSET', KEYS[1], 'rem', fresh, 'low', remaining) end
      else
        redis.call('HSET', KEYS[1], 'rem', fresh, 'reset', reset_at, 'low', remaining)
      end
    else
      redis.call('HSET', KEYS[1], 'rem', fresh)
    end
    if limit then redis.call('HSET', KEYS[1], 'lim', limit) end
  end
end
redis.call('EXPIRE', KEYS[1], 86400)
local want = #ARGV - i + 1
if want <= 0 then return {0, '0'} end
local s = redis.call('HMGET', KEYS[1], 'rem', 'lim', 'reset', 'block', 'tat')
local rem, lim, reset, block, tat = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4]), tonumber(s[5])
if block and block > now then return {0, tostring(block - now)} end
local inflight = redis.call('ZCARD', KEYS[2])
if reset and now >= reset then
  if lim then rem = lim - inflight else rem = nil end
  redis.call('HSET', KEYS[1], 'prev', reset)
  redis.call('HDEL', KEYS[1], 'reset', 'low')
  reset = nil
  if rem then redis.call('HSET', KEYS[1], 'rem', rem) else redis.call('HDEL', KEYS[1], 'rem') end
end
if rem and rem <= reserve then
  if reset then return {0, tostring(reset - now)} end
  if inflight > 0 then return {0, '0.05'} end
  redis.call('HSET', KEYS[1], 'reset', now + probe)
  redis.call('HDEL', KEYS[1], 'lim')
  return {0, tostring(probe)}
end
local n = want
if rem then
  local spare = math.max(math.floor((rem - reserve) / share), 1)
  if spare < n then n = spare end
end
if rps > 0 then
  local emission = 1 / rps
  local base = tat or now
  if base < now then base = now end
  if base + emission - now > emission * burst then
    return {0, tostring(base + emission - now - emission * burst)}
  end
  local fits = math.max(math.floor((now + emission * burst - base + 1e-6) / emission), 1)
  if fits < n then n = fits end
  redis.call('HSET', KEYS[1], 'tat', base + n * emission)
end
if rem then redis.call('HSET', KEYS[1], 'rem', rem - n) end
for j = 0, n - 1 do redis.call('ZADD', KEYS[2], now, ARGV[i + j]) end
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('EXPIRE', KEYS[2], 3600)
return {n, '0'}
"""


def _text(value: float | None) -> str:
    return "" if value is None else repr(value)


class RedisRateBudget:
    """The budget shared by every worker through Redis: one script does every step, atomically."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._step = client.register_script(_SETTLE_AND_TAKE)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"{KEY_PREFIX}:rate:{{{key}}}", f"{KEY_PREFIX}:rate:{{{key}}}:inflight"]

    def settle_and_take(
        self,
        key: str,
        *,
        now: float,
        policy: RateLimitPolicy | None = None,
        finished: Sequence[str] = (),
        observations: Sequence[tuple[float, RateObservation]] = (),
        wanted: Sequence[str] = (),
    ) -> tuple[int, float]:
        """Give back `finished` slots, apply `observations` (moment, observation) in order, then take slots.

        Takes up to one slot per name in `wanted` (fewer when the pacing or an eighth of what the vendor
        has left allows fewer) and returns how many were taken, the first ones of `wanted`, and, when none
        was, how long to wait before asking again.
        """
        policy = policy or RateLimitPolicy()
        args: list[Any] = [
            repr(now),
            repr(policy.requests_per_second or 0),
            policy.burst,
            policy.reserve,
            INFLIGHT_TTL,
            PROBE_INTERVAL,
            LEASE_SHARE,
            len(finished),
            *finished,
            len(observations),
        ]
        for at, obs in observations:
            args += [repr(at), _text(obs.remaining), _text(obs.limit), _text(obs.reset_at), _text(obs.retry_after)]
            args.append("1" if obs.limited else "0")
        args += wanted
        taken, wait = self._step(keys=self._keys(key), args=args)
        return int(taken), max(float(wait), 0.0)

    def acquire(self, key: str, token: str, *, now: float, policy: RateLimitPolicy) -> float:
        taken, wait = self.settle_and_take(key, now=now, policy=policy, wanted=[token])
        return 0.0 if taken else wait

    def release(self, key: str, token: str, *, now: float, observation: RateObservation | None) -> None:
        self.settle_and_take(key, now=now, finished=[token], observations=[(now, observation)] if observation else [])

    def snapshot(self, key: str) -> dict[str, Any]:
        state_key, inflight_key = self._keys(key)
        raw = self.client.hgetall(state_key)
        values = {k.decode(): float(v) for k, v in raw.items()}
        return {
            "remaining": values.get("rem"),
            "limit": values.get("lim"),
            "reset": values.get("reset"),
            "block": values.get("block"),
            "inflight": self.client.zcard(inflight_key),
        }


@dataclass
class _Lease:
    free: list[str] = field(default_factory=list)
    using: dict[str, str] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    observations: list[tuple[float, RateObservation]] = field(default_factory=list)


def lease_size() -> int:
    return int(getattr(settings, "CONNECTOR_RATE_LEASE_SIZE", 1))


class LeasedRateBudget:
    """The Redis budget, with slots taken a few at a time by each worker process.

    A call that finds a slot this process already holds goes without a Redis round trip; the call that finds
    none takes up to `CONNECTOR_RATE_LEASE_SIZE` slots in one step, and in that same step hands back the slots
    of the calls finished since and applies what their answers said. Held slots count as in flight for every
    other worker, so nothing can overshoot: the price is that another worker may wait for a slot this one
    holds unused. That is kept small three ways. A lease is never more than an eighth of what the vendor has
    left (near the end every call takes its own slot, as without leases). An answer that says the vendor
    is limiting, or has fewer than a lease's worth of eight calls left, is shared at once and the unused
    slots go back with it. And a background thread shares what was learnt and gives every unused slot
    back each `CONNECTOR_RATE_LEASE_FLUSH_SECONDS`, so a slot is never held longer than that, nor a block
    that another worker's answer set ignored longer than that.
    """

    def __init__(self, shared: RedisRateBudget) -> None:
        self.shared = shared
        self.reporter = LeaseReporter(self)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _lease(self, key: str) -> _Lease:
        """This process's lease on `key`; call with the lock held. A forked child holds nothing of its parent's."""
        if self._pid != os.getpid():
            self._leases, self._pid = {}, os.getpid()
        return self._leases.setdefault(key, _Lease())

    def acquire(self, key: str, token: str, *, now: float, policy: RateLimitPolicy) -> float:
        with self._lock:
            lease = self._lease(key)
            if lease.free:
                lease.using[token] = lease.free.pop()
                return 0.0
            finished, lease.finished = lease.finished, []
            observations, lease.observations = lease.observations, []
        wanted = [f"{token}:{index}" for index in range(max(lease_size(), 1))]
        try:
            taken, wait = self.shared.settle_and_take(
                key, now=now, policy=policy, finished=finished, observations=observations, wanted=wanted
            )
        except Exception:
            self._keep(key, finished, observations)
            raise
        if not taken:
            return wait
        with self._lock:
            lease = self._lease(key)
            lease.using[token] = wanted[0]
            lease.free.extend(wanted[1:taken])
        if taken > 1:
            self.reporter.add(key)
        return 0.0

    def release(self, key: str, token: str, *, now: float, observation: RateObservation | None) -> None:
        with self._lock:
            lease = self._lease(key)
            lease.finished.append(lease.using.pop(token, token))
            if observation is not None:
                lease.observations.append((now, observation))
        if observation is not None and self._urgent(observation):
            self.report(key, now=now)
        else:
            self.reporter.add(key)

    @staticmethod
    def _urgent(observation: RateObservation) -> bool:
        if observation.limited or observation.retry_after is not None:
            return True
        return observation.remaining is not None and observation.remaining < max(lease_size(), 1) * LEASE_SHARE

    def report(self, key: str, *, now: float | None = None) -> None:
        """Share what this process learnt about `key` and give back the slots it holds unused."""
        with self._lock:
            lease = self._lease(key)
            finished, lease.finished = lease.finished, []
            observations, lease.observations = lease.observations, []
            unused, lease.free = lease.free, []
        if not (finished or observations or unused):
            return
        try:
            self.shared.settle_and_take(
                key, now=wall_clock() if now is None else now, finished=finished + unused, observations=observations
            )
        except Exception:
            # The unused slots are not used any more (they may be held too long already): they go back next time.
            self._keep(key, finished + unused, observations)
            raise

    def _keep(self, key: str, finished: list[str], observations: list[tuple[float, RateObservation]]) -> None:
        with self._lock:
            lease = self._lease(key)
            lease.finished[:0] = finished
            lease.observations[:0] = observations

    def snapshot(self, key: str) -> dict[str, Any]:
        return self.shared.snapshot(key)


class LeaseReporter(BatchWriter[str]):
    """Reports each leased connection of this process in the background (the rows are connection ids)."""

    settings_prefix = "CONNECTOR_RATE_LEASE"
    noun = "rate lease"

    def __init__(self, budget: LeasedRateBudget) -> None:
        super().__init__()
        self.budget = budget

    def write(self, batch: list[str]) -> None:
        for key in dict.fromkeys(batch):
            self.budget.report(key)

    def describe(self, row: str) -> str:
        return f"of connection {row}"


_local_budget = LocalRateBudget()
_redis_budgets: dict[tuple[int, bool], RateBudget] = {}


def shared_budget() -> RateBudget:
    """Redis when the deployment has it (leased a few slots at a time unless the lease size is 1), else this
    process's budget."""
    client = shared_redis()
    if client is None:
        return _local_budget
    leased = lease_size() > 1
    budget = _redis_budgets.get((id(client), leased))
    if budget is None:
        budget = RedisRateBudget(client)
        if leased:
            budget = LeasedRateBudget(budget)
        _redis_budgets[(id(client), leased)] = budget
    return budget


def wall_clock() -> float:
    """Budgets compare against vendors' epoch reset times, so they run on the wall clock."""
    return time.time()


def rate_budget_enabled() -> bool:
    return bool(getattr(settings, "CONNECTOR_RATE_BUDGET_ENABLED", True))
