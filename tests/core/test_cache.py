"""The shared cache's counters and swaps, on Redis (when configured) and on the in-process cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache, caches
from django.test import override_settings

from apps.core.cache import RedisCache, add_to_counter, swap

IN_PROCESS = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cache-tests"}}


@pytest.fixture(params=["configured", "in-process"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test runs on the configured cache (Redis in CI) and on the in-process one of `make run`."""
    if request.param == "configured":
        yield request.param
        return
    with override_settings(CACHES=IN_PROCESS):
        caches["default"].clear()
        yield request.param


def test_a_counter_starts_at_the_first_amount_and_adds_up(backend):
    # when
    totals = [add_to_counter("c:one", timeout=60), add_to_counter("c:one", 4, timeout=60)]
    # then
    assert totals == [1, 5]
    assert cache.get("c:one") == 5


def test_counters_under_other_keys_are_independent(backend):
    # when
    add_to_counter("c:a", 3, timeout=60)
    # then
    assert add_to_counter("c:b", timeout=60) == 1


def test_a_counter_that_expired_starts_again(backend):
    # given
    add_to_counter("c:gone", 7, timeout=60)
    cache.delete("c:gone")
    # when / then
    assert add_to_counter("c:gone", timeout=60) == 1


def test_swap_answers_what_was_there_and_keeps_the_new_value(backend):
    # when
    first = swap("s:one", {"ip": "10.0.0.1"}, timeout=60)
    second = swap("s:one", {"ip": "10.0.0.2"}, timeout=60)
    # then
    assert first is None
    assert second == {"ip": "10.0.0.1"}
    assert cache.get("s:one") == {"ip": "10.0.0.2"}


def test_swapped_integers_read_back_as_integers(backend):
    # given: Redis keeps plain integers unpickled, as Django's cache does
    swap("s:int", 41, timeout=60)
    # when / then
    assert swap("s:int", 42, timeout=60) == 41


@pytest.mark.redis
def test_a_counters_lifetime_is_set_at_its_first_count():
    # given
    redis_cache = caches["default"]
    assert isinstance(redis_cache, RedisCache)
    # when
    add_to_counter("c:ttl", timeout=90)
    add_to_counter("c:ttl", timeout=5)
    # then: a later count does not stretch or shorten the window
    client = redis_cache._cache.get_client()
    assert 85 <= client.ttl(redis_cache.make_and_validate_key("c:ttl")) <= 90


@pytest.mark.redis
def test_the_redis_cache_shares_one_client_per_pool():
    # given
    redis_cache = caches["default"]
    assert isinstance(redis_cache, RedisCache)
    # when / then
    assert redis_cache._cache.get_client(write=True) is redis_cache._cache.get_client(write=True)
