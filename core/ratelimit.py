"""A rate limiter shared by every worker on every machine: sliding one-minute windows in Redis.

The provider counts requests and images over a sliding minute, so the limiter keeps the same books:
each admitted request (and each image) is a sorted-set member scored by the Redis clock. A caller that
fits now, or within `max_wait_s`, gets a slot booked at that moment; a caller that does not fit books
nothing and is told how long to wait, so it can give its worker slot back instead of sleeping on it.
A 429 from the provider pauses everyone for that model for as long as it asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import redis

ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local window = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local token = ARGV[3]
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return {0, paused, 0} end
local wait = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[3 + i * 2 - 1])
  local cost = tonumber(ARGV[3 + i * 2])
  if limit > 0 and cost > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    local used = redis.call('ZCARD', KEYS[i])
    if cost > limit then cost = limit end
    if used + cost > limit then
      local nth = redis.call('ZRANGE', KEYS[i], used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
      local free_at = tonumber(nth[2]) + window
      if free_at - now > wait then wait = free_at - now end
    end
  end
end
if wait > max_wait then return {0, wait, 0} end
local at = now + wait
for i = 1, 2 do
  local limit = tonumber(ARGV[3 + i * 2 - 1])
  local cost = tonumber(ARGV[3 + i * 2])
  if limit > 0 and cost > 0 then
    if cost > limit then cost = limit end
    for j = 1, cost do redis.call('ZADD', KEYS[i], at, token .. ':' .. j) end
    redis.call('PEXPIRE', KEYS[i], window + wait + 1000)
  end
end
return {1, wait, at}
"""

# Re-stamp a granted booking with the moment the request really leaves (ZADD GT: only ever later), so the
# database writes between admission and the call cannot make us look faster than we are. A booking whose
# entries already left the window (its worker froze, or waited on a slow database, past a whole window) is
# booked again at now if the window has room, and refused (0) if not: the request must not leave uncounted.
CONFIRM = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local window = tonumber(ARGV[4])
local lapsed = {0, 0}
for i = 1, 2 do
  for j = 1, tonumber(ARGV[1 + i]) do
    if not redis.call('ZSCORE', KEYS[i], ARGV[1] .. ':' .. j) then lapsed[i] = lapsed[i] + 1 end
  end
end
if lapsed[1] + lapsed[2] > 0 then
  if redis.call('PTTL', KEYS[3]) > 0 then return 0 end
  for i = 1, 2 do
    local limit = tonumber(ARGV[4 + i])
    if lapsed[i] > 0 and limit > 0 then
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
      if redis.call('ZCARD', KEYS[i]) + lapsed[i] > limit then return 0 end
    end
  end
end
for i = 1, 2 do
  for j = 1, tonumber(ARGV[1 + i]) do
    redis.call('ZADD', KEYS[i], 'GT', now, ARGV[1] .. ':' .. j)
  end
  redis.call('PEXPIRE', KEYS[i], window + 1000)
end
return 1
"""

PAUSE = """
local current = redis.call('PTTL', KEYS[1])
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


@dataclass(frozen=True)
class Permit:
    granted: bool
    wait_s: float
    token: str = ""
    requests: int = 0
    images: int = 0
    at: float = 0.0  # when the booked slot opens: epoch seconds on Redis's clock (every host shares it)


# A booking redelivered this long after its slot (its worker died holding it) no longer stands: its entries may
# have left the window. The worker releases it and asks the limiter afresh.
STALE_BOOKING_S = 1.0


def permit_to_message(permit: Permit, target: str) -> dict[str, object]:
    """A booking made by the dispatcher travels with the job's message to the worker that will use it."""
    return {
        "target": target,
        "token": permit.token,
        "requests": permit.requests,
        "images": permit.images,
        "at": permit.at,
    }


def permit_from_message(message: dict[str, object] | None) -> tuple[str, Permit] | None:
    """The booking a message carries; its `wait_s` is still to be measured against Redis's clock (`wait_until`)."""
    if not message:
        return None
    requests, images = int(message["requests"]), int(message["images"])  # type: ignore[call-overload]
    at = float(message.get("at") or 0)  # type: ignore[arg-type]
    return str(message["target"]), Permit(True, 0.0, str(message["token"]), requests, images, at)


def wait_until(permit: Permit, now: float) -> Permit | None:
    """The booking with its wait measured at `now` (Redis's clock), or None if its slot is long gone."""
    wait_s = permit.at - now
    if wait_s < -STALE_BOOKING_S:
        return None
    return replace(permit, wait_s=round(max(wait_s, 0.0), 3))


@dataclass(frozen=True)
class Limits:
    rpm: int
    ipm: int


class RateLimiter:
    """Requests- and images-per-minute budgets for one provider and model, shared through Redis."""

    def __init__(self, client: redis.Redis, name: str, limits: Limits, *, window_s: float = 61.0) -> None:
        # The window is a second longer than the provider's minute: our clock stamps a request when it
        # leaves, the provider's when it lands, and the margin keeps that skew from becoming a 429.
        self.client = client
        self.name = name
        self.limits = limits
        self.window_ms = int(window_s * 1000)
        self.keys = [f"rl:{name}:req", f"rl:{name}:img", f"rl:{name}:pause"]
        self._acquire = client.register_script(ACQUIRE)
        self._pause = client.register_script(PAUSE)
        self._confirm = client.register_script(CONFIRM)

    def acquire(self, images: int = 1, *, max_wait_s: float = 0.0) -> Permit:
        """Book one request and `images` images now or within `max_wait_s`, or say how long to wait."""
        token = uuid.uuid4().hex
        granted, wait_ms, at_ms = self._acquire(
            keys=self.keys,
            args=[self.window_ms, int(max_wait_s * 1000), token, self.limits.rpm, 1, self.limits.ipm, images],
        )
        if not granted:
            return Permit(False, int(wait_ms) / 1000)
        booked = (min(1, self.limits.rpm), min(images, self.limits.ipm))
        return Permit(True, int(wait_ms) / 1000, token, *booked, at=int(at_ms) / 1000)

    def release(self, permit: Permit) -> None:
        """Give back a booking that will not be used (its job was cancelled or finished meanwhile)."""
        if permit.granted:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(self.keys[0], *[f"{permit.token}:{j}" for j in range(1, permit.requests + 1)] or ["-"])
            pipe.zrem(self.keys[1], *[f"{permit.token}:{j}" for j in range(1, permit.images + 1)] or ["-"])
            pipe.execute()

    def confirm(self, permit: Permit) -> bool:
        """Move a granted booking to now, the moment its request leaves; False if it lapsed and the window is full
        (the request must not leave: see CONFIRM)."""
        if not (permit.granted and (permit.requests or permit.images)):
            return True
        args: list[str | int] = [
            permit.token,
            permit.requests,
            permit.images,
            self.window_ms,
            self.limits.rpm,
            self.limits.ipm,
        ]
        return bool(self._confirm(keys=self.keys, args=args))

    def pause(self, seconds: float) -> None:
        """Hold every worker back from this model for `seconds` (the provider's retry-after)."""
        self._pause(keys=[self.keys[2]], args=[max(int(seconds * 1000), 1)])

    def paused_for(self) -> float:
        return max(int(self.client.pttl(self.keys[2])), 0) / 1000

    def in_window(self) -> tuple[int, int]:
        """Requests and images booked in the current window (for metrics and estimates)."""
        return int(self.client.zcard(self.keys[0])), int(self.client.zcard(self.keys[1]))
