"""The waiting room: jobs over the rate limit park in Redis until the dispatcher books them a slot.

Without it, every job over the limit would poll: a Celery countdown, a claim, a refused permit, another
countdown, each costing a message, database writes and a worker slot, and all of them waking together the
moment a slot frees. Here a parked job costs one sorted-set member; generation/runtime/dispatcher.py wakes
them, highest priority first.

Within a priority, users take turns: each user's parked jobs are spaced one `pace_s` apart (the provider's
interval between slots), and a job is due at its turn or when it is ready, whichever is later. One user's
backlog of fifty therefore holds back another user's first job by at most one slot, and a user alone still gets
every slot, since the spacing is the pace the slots come at anyway.

Nothing here is the source of truth: the database says which jobs are queued. If Redis loses the parked
sets, the sweeper re-dispatches those jobs like any other lost message.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core.redis import as_text, count_due, redis_client

PARKED = "gen:parked:{priority}"  # sorted set: "<id>|<images>|<queue>" -> when it may run (epoch seconds)
TURNS = "gen:parked:turns:{priority}"  # hash: user id -> when that user's next parked job's turn comes
SLOW = "slow"  # the slow lane's "priority" in these keys: below every level, and not one of LEVELS
LEVELS = "gen:parked:levels"  # the priorities that have a parked set
TURNS_TTL_S = 3600
# Due at max(now + delay, the user's turn), on Redis's clock; the user's next turn moves one pace later. A job back
# in line (`place`, when it first stood there) is due at that place if earlier, and takes no new turn.
PARK = """
local t = redis.call('TIME')
local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[2])
local turn = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if turn > due then due = turn end
local place = tonumber(ARGV[6])
if place > 0 and place < due then
  redis.call('ZADD', KEYS[1], place, ARGV[1])
  return string.format('%.6f', place)
end
redis.call('ZADD', KEYS[1], due, ARGV[1])
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[3], string.format('%.6f', due + tonumber(ARGV[4])))
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return string.format('%.6f', due)
"""

# Move a parked member to a higher level, keeping its score (its place by age); nothing if it is not parked.
MOVE_UP = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], score, ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""


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


def park(
    generation_id: object,
    *,
    priority: int,
    images: int,
    queue: str,
    delay_s: float,
    user_id: object = "",
    pace_s: float = 0.0,
    slow: bool = False,
    place: float = 0.0,
) -> float:
    """Wait in Redis for `delay_s` and the user's turn, then a free slot: no message, no worker, nothing polled.

    A job that stood in line before (`place`: when, epoch seconds) and comes back, say after a failed call, takes
    that place again rather than the back of the line.

    A slow-lane job waits in a set of its own, which the dispatcher books only with what the levels leave free.
    Returns when the job is due, on Redis's clock.
    """
    client = redis_client()
    member = Parked(str(generation_id), images, queue).member
    level = SLOW if slow else priority
    keys = [PARKED.format(priority=level), TURNS.format(priority=level)]
    due = client.register_script(PARK)(
        keys=keys, args=[member, f"{delay_s:.6f}", str(user_id), f"{pace_s:.6f}", TURNS_TTL_S, f"{place:.6f}"]
    )
    if not slow:
        client.sadd(LEVELS, priority)
    return float(due)


def move_up(generation_id: object, *, images: int, old: tuple[int, str], new: tuple[int, str]) -> bool:
    """A parked job aged into the (priority, queue) `new`: it waits there in the place its age gives it, ahead of
    the jobs of that level parked after it. False if it is not parked (a worker holds it, or its message is out)."""
    before, after = Parked(str(generation_id), images, old[1]), Parked(str(generation_id), images, new[1])
    keys = [PARKED.format(priority=old[0]), PARKED.format(priority=new[0]), LEVELS]
    return bool(redis_client().register_script(MOVE_UP)(keys=keys, args=[before.member, after.member, new[0]]))


def unpark(generation_id: object, *, priority: int, images: int, queue: str) -> None:
    """Forget a job that ended while parked, so no slot is ever booked for it."""
    member = Parked(str(generation_id), images, queue).member
    pipe = redis_client().pipeline(transaction=False)
    for level in (priority, SLOW):
        pipe.zrem(PARKED.format(priority=level), member)
    pipe.execute()


def levels(client: redis.Redis) -> list[int]:
    return sorted((int(as_text(v)) for v in client.smembers(LEVELS)), reverse=True)


def waiting_ahead(priority: int, within_s: float, *, slow: bool = False) -> bool:
    """Whether a parked job of this priority or higher is due within `within_s`: it has the next slot first.

    Ahead of a slow-lane job stands every parked job, of every level and of the slow lane itself.
    """
    client = redis_client()
    ahead = [PARKED.format(priority=level) for level in levels(client) if slow or level >= priority]
    if slow:
        ahead.append(PARKED.format(priority=SLOW))
    return count_due(client, ahead, within_s) > 0


def parked_ids(client: redis.Redis) -> set[str]:
    """Every parked job's id (for the sweeper, which must not mistake a parked job for a lost one)."""
    ids: set[str] = set()
    for level in [*levels(client), SLOW]:
        ids.update(Parked.parse(m).generation_id for m in client.zrange(PARKED.format(priority=level), 0, -1))
    return ids
