"""The shared cache: Django's Redis backend with one client per pool, and counters in one round trip.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` for every cache call, and building one
copies its table of response callbacks (some 200 entries): on the gateway's path, which makes a handful of
cache calls per request, that was a measurable share of the latency. A `redis.Redis` is safe to share
between threads (each command takes a connection from the pool), so each pool gets one.

`add_to_counter` and `swap` are what the rate-of-events rules do on every call. Django's API needs up to
four round trips for them (`add`, then `incr`, which itself asks whether the key exists); on Redis they
are one pipelined round trip. On any other backend (the in-process cache of `make run` without Redis)
they fall back to the plain API.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self  # its pool helpers are private, so the type stubs leave them out
        index = django_client._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = django_client._get_connection_pool(write)
            client = self._clients[index] = django_client._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient

    def add_to_counter(self, key: str, amount: int, *, timeout: int) -> int:
        redis_key = self.make_and_validate_key(key)
        pipe = self._cache.get_client(write=True).pipeline(transaction=False)
        pipe.set(redis_key, 0, ex=timeout, nx=True)
        pipe.incrby(redis_key, amount)
        return int(pipe.execute()[1])

    def swap(self, key: str, value: Any, *, timeout: int) -> Any:
        redis_key = self.make_and_validate_key(key)
        serializer = self._cache._serializer  # type: ignore[attr-defined]
        pipe = self._cache.get_client(write=True).pipeline(transaction=False)
        pipe.get(redis_key)
        pipe.set(redis_key, serializer.dumps(value), ex=timeout)
        previous = pipe.execute()[0]
        return None if previous is None else serializer.loads(previous)


def add_to_counter(key: str, amount: int = 1, *, timeout: int) -> int:
    """Add to a counter that lives `timeout` seconds from its first count, and return its new total."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.add_to_counter(key, amount, timeout=timeout)
    backend.add(key, 0, timeout=timeout)
    try:
        return int(backend.incr(key, amount))
    except ValueError:  # expired between add and incr
        backend.set(key, amount, timeout=timeout)
        return amount


def swap(key: str, value: Any, *, timeout: int) -> Any:
    """Store `value` for `timeout` seconds and return what the key held before (None when nothing)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.swap(key, value, timeout=timeout)
    previous = backend.get(key)
    backend.set(key, value, timeout=timeout)
    return previous
