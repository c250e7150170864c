"""Generation workers advertise their slots in Redis with a short TTL, so readiness and waits see live capacity."""

from __future__ import annotations

from core.redis import redis_client

KEY_PREFIX = "gen:worker:"
TTL_S = 30
HEARTBEAT_S = 10


def live_workers() -> dict[str, int]:
    """Hostname -> generation slots of every worker heard from in the last TTL_S seconds."""
    client = redis_client()
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=200))
    values = client.mget(keys) if keys else []
    return {k.decode()[len(KEY_PREFIX) :]: int(v) for k, v in zip(keys, values, strict=True) if v is not None}


def advertise(hostname: str, slots: int) -> None:
    redis_client().set(KEY_PREFIX + hostname, slots, ex=TTL_S)


def withdraw(hostname: str) -> None:
    redis_client().delete(KEY_PREFIX + hostname)
