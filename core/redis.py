"""One Redis connection pool per process, and Redis's clock: the one clock every host shares.

A host's own clock may run seconds ahead or behind. Anything one host writes and another compares with "now"
(when a parked job is due, when a booked slot opens, when a sent message should have been picked up) is
therefore stamped and read on the Redis server's clock, inside the same round trip where possible.
"""

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


def server_time(client: redis.Redis | None = None) -> float:
    """Redis's clock, in epoch seconds."""
    seconds, micros = (client or redis_client()).time()
    return float(seconds) + micros / 1e6


# ZADD with a score of Redis's now plus ARGV[1] seconds: one round trip, no host clock involved.
ZADD_AFTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
"""
# How many members of each key are due within ARGV[1] seconds of Redis's now.
COUNT_DUE = """
local t = redis.call('TIME')
local horizon = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local total = 0
for _, key in ipairs(KEYS) do total = total + redis.call('ZCOUNT', key, '-inf', horizon) end
return total
"""


def zadd_after(client: redis.Redis, key: str, member: str, delay_s: float) -> None:
    """Add `member` to the sorted set `key`, due `delay_s` seconds from now on Redis's clock."""
    client.register_script(ZADD_AFTER)(keys=[key], args=[f"{delay_s:.6f}", member])


def count_due(client: redis.Redis, keys: list[str], within_s: float) -> int:
    """Members of the sorted sets `keys` due within `within_s` seconds from now on Redis's clock."""
    return int(client.register_script(COUNT_DUE)(keys=keys, args=[f"{within_s:.6f}"])) if keys else 0
