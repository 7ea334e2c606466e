"""GCRA rate limits and monthly quotas: the algorithm (in-process and in Redis, with an injected clock),
and the gateway's answers (headers, 429 problems, refused calls consuming nothing, hammering reported)."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.conf import settings

from apps.gateway.models import OrganizationLimit, UsageRecord
from apps.gateway.rate_limits import MICROS, MemoryLimiterStore, Quota, Rate, RedisLimiterStore
from apps.security.models import AuditEvent
from tests.factories.gateway import ApiClientFactory, PlanFactory

T0 = 1_800_000_000 * MICROS  # a fixed "now" for the injected clock


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request):
    if request.param == "memory":
        yield MemoryLimiterStore()
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield RedisLimiterStore(client)
    client.close()


def _key(name: str) -> str:
    return f"{settings.GATEWAY_REDIS_PREFIX}:test:{name}:{uuid.uuid4().hex}"


def test_a_burst_is_admitted_at_once_then_the_sustained_rate_applies(store):
    # given 60 requests a minute (one a second) with a burst of 5
    rate = Rate.per_minute(_key("rate"), rate_per_minute=60, burst=5)
    # when 5 arrive at the same instant
    burst = [store.check([rate], [], T0) for _ in range(5)]
    # then all 5 pass, counting down what remains, and the 6th is refused with a 1 s retry
    assert [d.allowed for d in burst] == [True] * 5
    assert [d.remaining for d in burst] == [4, 3, 2, 1, 0]
    sixth = store.check([rate], [], T0)
    assert (sixth.allowed, sixth.refused_by, sixth.retry_after_seconds) == (False, "rate", 1)
    # and after that exactly one request per second gets through
    assert store.check([rate], [], T0 + MICROS // 2).allowed is False
    assert store.check([rate], [], T0 + MICROS).allowed is True
    assert store.check([rate], [], T0 + MICROS).allowed is False
    assert store.check([rate], [], T0 + 2 * MICROS).allowed is True


def test_a_quiet_client_gets_its_whole_burst_back(store):
    rate = Rate.per_minute(_key("rate"), rate_per_minute=60, burst=3)
    for _ in range(3):
        store.check([rate], [], T0)

    later = [store.check([rate], [], T0 + 10 * MICROS) for _ in range(4)]

    assert [d.allowed for d in later] == [True, True, True, False]


def test_the_reset_header_value_is_the_time_until_the_bucket_is_full(store):
    rate = Rate.per_minute(_key("rate"), rate_per_minute=60, burst=10)

    decisions = [store.check([rate], [], T0) for _ in range(3)]

    assert [d.reset_seconds for d in decisions] == [1, 2, 3]
    assert decisions[-1].limit == 10


def test_a_request_refused_by_one_limiter_consumes_nothing_from_the_others(store):
    # given a roomy client limiter and an organization limiter with a burst of 2
    client = Rate.per_minute(_key("client"), rate_per_minute=60, burst=3)
    organization = Rate.per_minute(_key("org"), rate_per_minute=60, burst=2)
    # when the organization's limiter refuses the third call
    results = [store.check([client, organization], [], T0) for _ in range(3)]
    # then the client's own limiter was charged only for the two that went through
    assert [d.allowed for d in results] == [True, True, False]
    assert results[2].refused_key == organization.key
    assert store.check([client], [], T0).allowed is True
    assert store.check([client], [], T0).allowed is False


def test_a_monthly_quota_is_counted_and_then_refuses(store):
    rate = Rate.per_minute(_key("rate"), rate_per_minute=6000, burst=100)
    quota = Quota(_key("quota"), limit=3)

    results = [store.check([rate], [quota], T0 + i) for i in range(5)]

    assert [d.allowed for d in results] == [True, True, True, False, False]
    assert results[3].refused_by == "quota"


@pytest.mark.redis
def test_without_an_injected_clock_redis_judges_by_its_own_clock():
    client = redis.Redis.from_url(settings.REDIS_URL)
    store = RedisLimiterStore(client)
    rate = Rate.per_minute(_key("rate"), rate_per_minute=60, burst=2)

    results = [store.check([rate], [], None).allowed for _ in range(3)]

    client.close()
    assert results == [True, True, False]


# -- Through the gateway -----------------------------------------------------------------------------------


@pytest.fixture
def tight_client(organization):
    return ApiClientFactory(organization=organization, plan=PlanFactory(rate_per_minute=60, burst=3))


def test_calls_carry_rate_limit_headers_and_the_burst_ends_in_a_429(machine, tight_client, issue_key):
    # given
    _key_row, token = issue_key(tight_client)
    client = machine(token)
    # when
    responses = [client.get("/api/v1/teams/") for _ in range(4)]
    # then
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in responses[:3]] == ["2", "1", "0"]
    assert responses[0]["RateLimit-Limit"] == "3"
    refused = responses[3]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/rate-limited")
    assert int(refused["Retry-After"]) >= 1
    assert UsageRecord.objects.filter(client=tight_client, status_code=429).count() == 1


def test_an_exhausted_monthly_quota_answers_429_until_next_month(machine, organization, issue_key):
    # given
    client_row = ApiClientFactory(organization=organization, plan=PlanFactory(monthly_quota=2))
    _key_row, token = issue_key(client_row)
    client = machine(token)
    # when
    responses = [client.get("/api/v1/teams/") for _ in range(3)]
    # then
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["type"].endswith("/quota-exceeded")
    assert int(responses[2]["Retry-After"]) > 0


def test_the_organizations_limit_caps_all_its_clients_together(machine, organization, issue_key, roomy_plan):
    # given two roomy clients in an organization limited to a burst of 3
    OrganizationLimit.objects.create(organization=organization, plan=PlanFactory(rate_per_minute=60, burst=3))
    first = machine(issue_key(ApiClientFactory(organization=organization, plan=roomy_plan))[1])
    second = machine(issue_key(ApiClientFactory(organization=organization, plan=roomy_plan))[1])
    # when
    codes = [first.get("/api/v1/teams/").status_code, second.get("/api/v1/teams/").status_code]
    codes += [first.get("/api/v1/teams/").status_code, second.get("/api/v1/teams/").status_code]
    # then
    assert codes == [200, 200, 200, 429]


def test_a_client_hammering_after_429s_is_reported_once(machine, tight_client, issue_key, settings):
    # given
    settings.GATEWAY_HAMMERING_THRESHOLD = 5
    _key_row, token = issue_key(tight_client)
    client = machine(token)
    # when it keeps calling long after being refused
    codes = [client.get("/api/v1/teams/").status_code for _ in range(3 + 8)]
    # then
    assert codes.count(429) == 8
    events = AuditEvent.objects.filter(action="gateway.client_hammering")
    assert events.count() == 1
    assert events.get().data["refusals"] == 5


def test_a_client_that_backs_off_is_not_reported(machine, tight_client, issue_key, settings):
    settings.GATEWAY_HAMMERING_THRESHOLD = 5
    _key_row, token = issue_key(tight_client)
    client = machine(token)

    codes = [client.get("/api/v1/teams/").status_code for _ in range(3 + 2)]

    assert codes.count(429) == 2
    assert not AuditEvent.objects.filter(action="gateway.client_hammering").exists()


def test_people_in_the_console_are_not_rate_limited(owner_client):
    response = owner_client.get("/api/v1/teams/")

    assert response.status_code == 200
    assert "RateLimit-Limit" not in response
