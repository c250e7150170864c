"""The waiting room: jobs over the rate limit park in Redis until the dispatcher books them a slot.

Without it, every job over the limit would poll: a Celery countdown, a claim, a refused permit, another
countdown, each costing a message, database writes and a worker slot, and all of them waking together the
moment a slot frees. Here a parked job costs one sorted-set member; generation/runtime/dispatcher.py wakes
them, highest priority first.

Nothing here is the source of truth: the database says which jobs are queued. If Redis loses the parked
sets, the sweeper re-dispatches those jobs like any other lost message.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core.redis import as_text, count_due, redis_client, zadd_after

PARKED = "gen:parked:{priority}"  # sorted set: "<id>|<images>|<queue>" -> when it may run (epoch seconds)
LEVELS = "gen:parked:levels"  # the priorities that have a parked set


@dataclass(frozen=True)
class Parked:
    generation_id: str
    images: int
    queue: str

    @property
    def member(self) -> str:
        return f"{self.generation_id}|{self.images}|{self.queue}"

    @classmethod
    def parse(cls, member: object) -> Parked:
        generation_id, images, queue = as_text(member).split("|", 2)
        return cls(generation_id, int(images), queue)


def park(generation_id: object, *, priority: int, images: int, queue: str, delay_s: float) -> None:
    """Wait in Redis for `delay_s` (on Redis's clock) and then a free slot: no message, no worker, nothing polled."""
    client = redis_client()
    zadd_after(client, PARKED.format(priority=priority), Parked(str(generation_id), images, queue).member, delay_s)
    client.sadd(LEVELS, priority)


def unpark(generation_id: object, *, priority: int, images: int, queue: str) -> None:
    """Forget a job that ended while parked, so no slot is ever booked for it."""
    redis_client().zrem(PARKED.format(priority=priority), Parked(str(generation_id), images, queue).member)


def levels(client: redis.Redis) -> list[int]:
    return sorted((int(as_text(v)) for v in client.smembers(LEVELS)), reverse=True)


def waiting_ahead(priority: int, within_s: float) -> bool:
    """Whether a parked job of this priority or higher is due within `within_s`: it has the next slot first."""
    client = redis_client()
    ahead = [PARKED.format(priority=level) for level in levels(client) if level >= priority]
    return count_due(client, ahead, within_s) > 0


def parked_ids(client: redis.Redis) -> set[str]:
    """Every parked job's id (for the sweeper, which must not mistake a parked job for a lost one)."""
    ids: set[str] = set()
    for level in levels(client):
        ids.update(Parked.parse(m).generation_id for m in client.zrange(PARKED.format(priority=level), 0, -1))
    return ids
