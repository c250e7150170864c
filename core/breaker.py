"""A circuit breaker whose state lives in Redis, so every worker on every machine sees the same one.

Closed: calls go through and outcomes are counted in one-second buckets. When the failure rate over the
window passes the threshold (with enough calls to judge), or `consecutive_failures` calls in a row fail (so
that a quiet hour's outage still trips it), it opens for `open_s`. After that it is
half-open: the first caller to take the probe lease makes one call; success closes the breaker,
failure opens it again. Everyone else is told to wait, and keeps their job queued.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

ALLOW = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if until_ms == 0 then return {'closed', 0} end
if now < until_ms then return {'open', until_ms - now} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'probe', 0} end
return {'half_open', redis.call('PTTL', KEYS[2])}
"""

RECORD = """
local now_t = redis.call('TIME')
local now_s = tonumber(now_t[1])
local now_ms = now_s * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local ok = ARGV[1] == '1'
local window = tonumber(ARGV[2])
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if until_ms > 0 then
  if redis.call('GET', KEYS[2]) ~= ARGV[6] then return 'ignored' end
  redis.call('DEL', KEYS[2])
  if ok then
    redis.call('DEL', KEYS[1])
    for i = 0, window - 1 do redis.call('DEL', KEYS[3] .. (now_s - i)) end
    return 'closed'
  end
  redis.call('HSET', KEYS[1], 'open_until', now_ms + tonumber(ARGV[5]))
  redis.call('HINCRBY', KEYS[1], 'opened', 1)
  return 'open'
end
local bucket = KEYS[3] .. now_s
redis.call('HINCRBY', bucket, ok and 'ok' or 'fail', 1)
redis.call('EXPIRE', bucket, window + 5)
if ok then
  redis.call('HDEL', KEYS[1], 'run')
  return 'closed'
end
local run = redis.call('HINCRBY', KEYS[1], 'run', 1)
local in_a_row = tonumber(ARGV[7])
if in_a_row > 0 and run >= in_a_row then
  redis.call('HSET', KEYS[1], 'open_until', now_ms + tonumber(ARGV[5]))
  redis.call('HDEL', KEYS[1], 'run')
  redis.call('HINCRBY', KEYS[1], 'opened', 1)
  return 'open'
end
local fails, total = 0, 0
for i = 0, window - 1 do
  local counts = redis.call('HMGET', KEYS[3] .. (now_s - i), 'ok', 'fail')
  local f = tonumber(counts[2] or '0')
  fails = fails + f
  total = total + f + tonumber(counts[1] or '0')
end
if total >= tonumber(ARGV[3]) and fails / total >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'open_until', now_ms + tonumber(ARGV[5]))
  redis.call('HDEL', KEYS[1], 'run')
  redis.call('HINCRBY', KEYS[1], 'opened', 1)
  return 'open'
end
return 'closed'
"""


@dataclass(frozen=True)
class BreakerPolicy:
    window_s: int = 30
    min_calls: int = 10
    failure_rate: float = 0.5
    open_s: float = 20.0
    probe_lease_s: float = 180.0
    consecutive_failures: int = 5  # 0: only the failure rate opens it


@dataclass(frozen=True)
class Decision:
    state: str  # "closed", "probe" (this caller holds the half-open lease), "open" or "half_open"
    wait_s: float

    @property
    def allowed(self) -> bool:
        return self.state in ("closed", "probe")


class CircuitBreaker:
    def __init__(self, client: redis.Redis, name: str, policy: BreakerPolicy) -> None:
        self.client = client
        self.name = name
        self.policy = policy
        self.keys = [f"cb:{name}:state", f"cb:{name}:probe", f"cb:{name}:b:"]
        self._allow = client.register_script(ALLOW)
        self._record = client.register_script(RECORD)

    def allow(self, holder: str) -> Decision:
        state, wait_ms = self._allow(keys=self.keys[:2], args=[holder, int(self.policy.probe_lease_s * 1000)])
        return Decision(state.decode() if isinstance(state, bytes) else state, int(wait_ms) / 1000)

    def record(self, success: bool, holder: str) -> str:
        """Count an outcome; returns the state after it ("closed" or "open")."""
        p = self.policy
        result = self._record(
            keys=self.keys,
            args=[
                "1" if success else "0",
                p.window_s,
                p.min_calls,
                p.failure_rate,
                int(p.open_s * 1000),
                holder,
                p.consecutive_failures,
            ],
        )
        return result.decode() if isinstance(result, bytes) else result

    def release_probe(self, holder: str) -> None:
        """Give the probe lease back without an outcome (the call was never made)."""
        if self.client.get(self.keys[1]) == holder.encode():
            self.client.delete(self.keys[1])

    def state(self) -> str:
        """closed, open or half_open, for metrics and the ops page."""
        until = self.client.hget(self.keys[0], "open_until")
        if not until:
            return "closed"
        seconds, micros = self.client.time()
        return "open" if seconds * 1000 + micros // 1000 < int(until) else "half_open"
