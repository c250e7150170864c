"""One Redis connection pool per process for the limiter, the breaker and the bookkeeping keys."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.lru_cache(maxsize=1)
def _pool(url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def redis_client() -> redis.Redis:
    return redis.Redis(connection_pool=_pool(settings.REDIS_URL))


def as_text(value: object) -> str:
    """Redis answers bytes; keys and members are text to us."""
    return value.decode() if isinstance(value, bytes) else str(value)
