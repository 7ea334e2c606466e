"""The per-connection rate budget, in-process and in Redis (the same algorithm, the same answers)."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.connectors.coordination import shared_redis
from apps.connectors.policies import RateLimitPolicy
from apps.connectors.rate_budget import (
    PROBE_INTERVAL,
    LeasedRateBudget,
    LocalRateBudget,
    RateObservation,
    RedisRateBudget,
    parse_rate_headers,
)

NOW = 1_800_000_000.0
POLICY = RateLimitPolicy()


@pytest.fixture(
    params=[
        pytest.param("local"),
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("leased", marks=pytest.mark.redis),
    ]
)
def budget(request, settings):
    if request.param == "local":
        yield LocalRateBudget()
        return
    assert settings.REDIS_URL
    if request.param == "redis":
        yield RedisRateBudget(shared_redis())
        return
    # Each process takes slots 16 at a time and reports only when the test says so (or an answer is urgent).
    settings.CONNECTOR_RATE_LEASE_SIZE = 16
    settings.CONNECTOR_RATE_LEASE_FLUSH_SECONDS = 3600
    leased = LeasedRateBudget(RedisRateBudget(shared_redis()))
    yield leased
    leased.reporter.close()


@pytest.fixture
def key():
    return f"test-{uuid.uuid4().hex}"


def test_a_fresh_connection_may_call_at_once(budget, key):
    assert budget.acquire(key, "a", now=NOW, policy=POLICY) == 0


def test_calls_wait_for_the_reset_once_the_vendor_says_none_remain(budget, key):
    # given
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=0, limit=10, reset_at=NOW + 30))
    # when
    wait = budget.acquire(key, "b", now=NOW + 1, policy=POLICY)
    # then
    assert wait == pytest.approx(29)
    assert budget.acquire(key, "c", now=NOW + 30, policy=POLICY) == 0


def test_calls_in_flight_count_against_what_the_vendor_reports(budget, key):
    # given the vendor reports 3 left while two other calls are on their way
    for token in ("a", "b", "c"):
        assert budget.acquire(key, token, now=NOW, policy=POLICY) == 0
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=3, limit=10, reset_at=NOW + 60))
    # when
    first = budget.acquire(key, "d", now=NOW, policy=POLICY)
    second = budget.acquire(key, "e", now=NOW, policy=POLICY)
    # then only one more may go: 3 remaining minus the 2 in flight
    assert first == 0
    assert second == pytest.approx(60)


def test_a_fresher_answer_gives_back_a_slot_counted_twice(budget, key):
    # given two calls; "b" reached the vendor first, so "a"'s answer already includes it
    window = RateObservation(limit=10, reset_at=NOW + 60)
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.acquire(key, "b", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=replace(window, remaining=5))  # "b" subtracted: 4 left
    budget.release(key, "b", now=NOW, observation=replace(window, remaining=6))  # older answer: ignored
    budget.acquire(key, "c", now=NOW, policy=POLICY)
    # when the next answer says 4 remain, with nothing in flight
    budget.release(key, "c", now=NOW, observation=replace(window, remaining=4))
    # then all 4 may go (not the 3 a running minimum would leave)
    grants = [budget.acquire(key, t, now=NOW, policy=POLICY) for t in ("d", "e", "f", "g", "h")]
    assert grants[:4] == [0, 0, 0, 0]
    assert grants[4] > 0


def test_an_answer_arriving_late_with_a_higher_count_does_not_raise_the_budget(budget, key):
    for token in ("a", "b"):
        budget.acquire(key, token, now=NOW, policy=POLICY)
    budget.release(key, "b", now=NOW + 0.1, observation=RateObservation(remaining=0, limit=10, reset_at=NOW + 60))

    budget.release(key, "a", now=NOW + 0.2, observation=RateObservation(remaining=5, limit=10, reset_at=NOW + 60))

    assert budget.acquire(key, "c", now=NOW + 0.3, policy=POLICY) == pytest.approx(59.7)


def test_a_retry_after_blocks_every_worker_of_the_connection(budget, key):
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(retry_after=5, limited=True))

    assert budget.acquire(key, "b", now=NOW + 1, policy=POLICY) == pytest.approx(4)
    assert budget.acquire(key, "c", now=NOW + 5, policy=POLICY) == 0


def test_a_limited_answer_without_retry_after_blocks_until_the_reset(budget, key):
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=0, reset_at=NOW + 12, limited=True))

    assert budget.acquire(key, "b", now=NOW, policy=POLICY) == pytest.approx(12)


def test_the_budget_refills_to_the_known_limit_when_the_window_rolls_over(budget, key):
    # given a spent window of 2 calls
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=0, limit=2, reset_at=NOW + 1))
    # when the window ends
    grants = [budget.acquire(key, t, now=NOW + 1.5, policy=POLICY) for t in ("b", "c", "d")]
    # then exactly the limit may go before the vendor answers again
    assert grants[:2] == [0, 0]
    assert grants[2] > 0


def test_a_late_answer_from_the_previous_window_does_not_refill_the_budget(budget, key):
    # given the new window spent
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.acquire(key, "late", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=0, limit=5, reset_at=NOW + 1))
    for token in ("b", "c", "d", "e"):
        budget.acquire(key, token, now=NOW + 1.2, policy=POLICY)
    budget.release(key, "b", now=NOW + 1.3, observation=RateObservation(remaining=0, limit=5, reset_at=NOW + 2))
    # when an answer of the old window arrives late, claiming plenty remain
    budget.release(key, "late", now=NOW + 1.4, observation=RateObservation(remaining=4, limit=5, reset_at=NOW + 1))
    # then the budget still waits for the new window's reset
    assert budget.acquire(key, "f", now=NOW + 1.5, policy=POLICY) == pytest.approx(0.5)


def test_our_pacing_allows_a_burst_then_the_sustained_rate(budget, key):
    policy = RateLimitPolicy(requests_per_second=10, burst=3)

    grants = [budget.acquire(key, f"t{i}", now=NOW, policy=policy) for i in range(4)]

    assert grants[:3] == [0, 0, 0]
    assert grants[3] == pytest.approx(0.1, abs=1e-3)
    assert budget.acquire(key, "later", now=NOW + 0.1, policy=policy) == 0


def test_a_spent_daily_quota_without_a_reset_is_probed_again_later(budget, key):
    # given Salesforce says the org's daily allocation is used up, and we keep 10 in reserve
    policy = RateLimitPolicy(reserve=10)
    budget.acquire(key, "a", now=NOW, policy=policy)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=10, limit=15000))
    # when
    wait = budget.acquire(key, "b", now=NOW, policy=policy)
    # then nothing goes until the probe interval, and then one call may look again
    assert wait == pytest.approx(PROBE_INTERVAL)
    assert budget.acquire(key, "c", now=NOW + PROBE_INTERVAL, policy=policy) == 0


def test_a_lost_call_stops_counting_after_a_while(budget, key):
    # given a call that never came back (its worker died), on a vendor allowing 1 call per window
    budget.acquire(key, "lost", now=NOW, policy=POLICY)
    budget.acquire(key, "a", now=NOW, policy=POLICY)
    budget.release(key, "a", now=NOW, observation=RateObservation(remaining=1, limit=1, reset_at=NOW + 10))
    # when the window rolls over soon after, the lost call still holds the only slot
    assert budget.acquire(key, "b", now=NOW + 11, policy=POLICY) > 0
    # then minutes later it no longer counts
    budget.release(key, "c", now=NOW + 200, observation=RateObservation(remaining=0, limit=1, reset_at=NOW + 201))
    assert budget.acquire(key, "d", now=NOW + 201, policy=POLICY) == 0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"x-ratelimit-remaining": "4999", "x-ratelimit-limit": "5000", "x-ratelimit-reset": "1800000600"},
            RateObservation(remaining=4999, limit=5000, reset_at=NOW + 600),
        ),
        (
            {"ratelimit-remaining": "10", "ratelimit-limit": "600", "ratelimit-reset": "30"},
            RateObservation(remaining=10, limit=600, reset_at=NOW + 30),
        ),
        (
            {"x-ratelimit-remaining": "7", "x-ratelimit-reset": "2027-01-15T08:01:00.000Z"},
            RateObservation(remaining=7, reset_at=NOW + 60),
        ),
        ({"sforce-limit-info": "api-usage=25/15000"}, RateObservation(remaining=14975, limit=15000)),
        ({"retry-after": "0.25"}, RateObservation(retry_after=0.25)),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, RateObservation(retry_after=10.0)),
    ],
    ids=["github-epoch", "gitlab-delta", "jira-iso", "salesforce", "retry-after", "retry-after-date"],
)
def test_every_vendor_header_style_is_understood(headers, expected):
    # NOW is 2027-01-15T08:00:00Z.
    assert parse_rate_headers(headers, now=NOW, status=200) == expected


def test_a_response_without_rate_headers_tells_nothing():
    assert parse_rate_headers({"content-type": "application/json"}, now=NOW, status=200) is None


def test_a_403_with_nothing_remaining_is_a_limited_answer():
    observation = parse_rate_headers({"x-ratelimit-remaining": "0"}, now=NOW, status=403)

    assert observation is not None
    assert observation.limited


# -- Leases: each worker process takes its slots a few at a time -------------------------------------------


@pytest.fixture
def leases(settings):
    """A factory of leased budgets, one per simulated worker process, that report only when told to."""
    settings.CONNECTOR_RATE_LEASE_SIZE = 16
    settings.CONNECTOR_RATE_LEASE_FLUSH_SECONDS = 3600
    made: list[LeasedRateBudget] = []

    def make() -> LeasedRateBudget:
        made.append(LeasedRateBudget(RedisRateBudget(shared_redis())))
        return made[-1]

    yield make
    for budget in made:
        budget.reporter.close()


def _in_flight(budget: LeasedRateBudget, key: str) -> int:
    return int(budget.snapshot(key)["inflight"])


WINDOW = RateObservation(limit=5000, reset_at=NOW + 3600)


def _one_call_answered(worker: LeasedRateBudget, key: str, *, remaining: int) -> None:
    """The worker made a call, and the vendor answered that `remaining` calls are left in the window."""
    worker.acquire(key, "answered", now=NOW, policy=POLICY)
    worker.release(key, "answered", now=NOW, observation=replace(WINDOW, remaining=remaining))


@pytest.mark.redis
def test_a_worker_takes_slots_a_lease_at_a_time(leases, key):
    worker = leases()
    # when the first call of the worker asks
    assert worker.acquire(key, "t0", now=NOW, policy=POLICY) == 0
    # then the worker holds a lease of 16, counted in flight for everyone
    assert _in_flight(worker, key) == 16
    # and its next 15 calls go without asking Redis again; the 17th takes a new lease
    for index in range(1, 16):
        assert worker.acquire(key, f"t{index}", now=NOW, policy=POLICY) == 0
    assert _in_flight(worker, key) == 16
    assert worker.acquire(key, "t16", now=NOW, policy=POLICY) == 0
    assert _in_flight(worker, key) == 32


@pytest.mark.redis
def test_workers_holding_leases_never_take_more_than_the_vendor_has_left(leases, key):
    # given the vendor said 100 calls remain in this window
    first, second = leases(), leases()
    _one_call_answered(first, key, remaining=100)
    # when two workers take slots in turn until both are told to wait
    granted = 0
    waits: list[float] = []
    for index in range(300):
        for worker in (first, second):
            wait = worker.acquire(key, f"{id(worker)}-{index}", now=NOW + 1, policy=POLICY)
            if wait:
                waits.append(wait)
            else:
                granted += 1
    # then exactly the 100 went (none more, none stranded), and the rest wait for the window's reset
    assert granted == 100
    assert waits[0] == pytest.approx(3599)


@pytest.mark.redis
def test_a_lease_is_never_more_than_an_eighth_of_what_is_left(leases, key):
    worker = leases()
    _one_call_answered(worker, key, remaining=40)

    worker.acquire(key, "a", now=NOW, policy=POLICY)

    assert _in_flight(worker, key) == 5
    assert worker.snapshot(key)["remaining"] == 35


@pytest.mark.redis
def test_a_lease_takes_no_more_than_the_pacing_s_burst(leases, key):
    worker = leases()
    policy = RateLimitPolicy(requests_per_second=10, burst=3)

    grants = [worker.acquire(key, f"t{i}", now=NOW, policy=policy) for i in range(4)]

    assert grants[:3] == [0, 0, 0]
    assert grants[3] == pytest.approx(0.1, abs=1e-3)
    assert _in_flight(worker, key) == 3


@pytest.mark.redis
def test_an_ordinary_answer_is_shared_when_the_worker_reports(leases, key):
    # given a worker holding a lease, whose first call was answered with plenty left
    worker = leases()
    worker.acquire(key, "a", now=NOW, policy=POLICY)
    worker.release(key, "a", now=NOW, observation=replace(WINDOW, remaining=4000))
    # then other workers do not know it yet: the answered call and the 15 unused slots still count
    assert worker.snapshot(key)["remaining"] is None
    assert _in_flight(worker, key) == 16
    # when the background thread reports
    worker.reporter.flush()
    # then the answer is shared and every unused slot is given back
    assert worker.snapshot(key)["remaining"] == 4000
    assert _in_flight(worker, key) == 0


@pytest.mark.redis
def test_a_retry_after_is_shared_at_once_and_the_lease_given_back(leases, key):
    # given two workers, the first holding a lease
    first, second = leases(), leases()
    first.acquire(key, "a", now=NOW, policy=POLICY)
    first.acquire(key, "b", now=NOW, policy=POLICY)
    # when the vendor answers one call with Retry-After, before any report
    first.release(key, "a", now=NOW, observation=RateObservation(retry_after=5, limited=True))
    # then every worker waits, the first too although it held slots, and only the call still out counts
    assert second.acquire(key, "c", now=NOW + 1, policy=POLICY) == pytest.approx(4)
    assert first.acquire(key, "d", now=NOW + 1, policy=POLICY) == pytest.approx(4)
    assert _in_flight(first, key) == 1


@pytest.mark.redis
def test_a_nearly_spent_budget_is_shared_at_once(leases, key):
    first, second = leases(), leases()

    _one_call_answered(first, key, remaining=2)

    assert second.acquire(key, "b", now=NOW, policy=POLICY) == 0
    assert second.acquire(key, "c", now=NOW, policy=POLICY) == 0
    assert second.acquire(key, "d", now=NOW, policy=POLICY) == pytest.approx(3600)


@pytest.mark.redis
def test_what_redis_refused_to_take_is_reported_later(leases, key, closed_port):
    # given a worker whose call was answered, and a Redis that is not there when the report is due
    worker = leases()
    worker.acquire(key, "a", now=NOW, policy=POLICY)
    worker.release(key, "a", now=NOW, observation=replace(WINDOW, remaining=4000))
    reachable = worker.shared
    worker.shared = RedisRateBudget(redis.Redis(host="127.0.0.1", port=closed_port, retry=Retry(NoBackoff(), 0)))
    # when the report fails
    assert worker.reporter.flush() == 0
    # then nothing of it is lost: the next report, with Redis back, shares the answer and ends the call
    worker.shared = reachable
    assert worker.snapshot(key)["remaining"] is None
    assert worker.reporter.flush() > 0
    assert worker.snapshot(key)["remaining"] == 4000
    assert _in_flight(worker, key) == 0


@pytest.mark.redis
def test_a_forked_worker_does_not_use_its_parent_s_slots(leases, key):
    # given a parent process holding a lease of which 15 slots are unused
    parent = leases()
    parent.acquire(key, "a", now=NOW, policy=POLICY)
    assert _in_flight(parent, key) == 16
    # when a child forked from it takes a slot
    child = os.fork()
    if child == 0:
        took_its_own = parent.acquire(key, "b", now=NOW, policy=POLICY) == 0 and _in_flight(parent, key) == 32
        os._exit(0 if took_its_own else 1)
    _, status = os.waitpid(child, 0)
    # then it took a lease of its own from Redis
    assert os.waitstatus_to_exitcode(status) == 0
