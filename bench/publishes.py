"""Note when InteriorAI published each job's updates: `python -m bench.publishes REDIS_URL OUT` (bench/run.py runs it).

The product numbers and keeps every WebSocket update right after the commit that made it (`events.update`, run by
`transaction.on_commit`), before sending it: an RPUSH to the job's event log. The benchmark's private Redis reports
each one to its subscribers (a keyspace notification), and this process, on its own so the runner's other work does
not delay it, writes one line per append: the job's id and the time it heard of it. It also notes each booking the
rate limiter gives back unused (a ZREM on a window). Redis restarted empty (the chaos scenario) forgets the setting: it
is set again on every reconnect.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis

PATTERN = "__keyspace@0__:events:*:log"
# The providers' request windows (not the API throttles'): a ZREM there is a booked slot given back unused
# (`RateLimiter.release`).
BOOKINGS = ["__keyspace@0__:rl:openai:*:req", "__keyspace@0__:rl:replicate:*:req"]


def follow(url: str, out: Path) -> None:
    with out.open("a", buffering=1) as lines:
        while True:
            try:
                # No read timeout: a quiet spell is not a failure; a Redis killed closes the socket (ConnectionError).
                client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=None)
                client.config_set("notify-keyspace-events", "Klz")
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(PATTERN, *BOOKINGS)
                for message in pubsub.listen():
                    heard = time.time()
                    if message.get("data") == b"rpush":
                        lines.write(f"{message['channel'].decode().rsplit(':', 2)[-2]} {heard:.6f}\n")
                    elif message.get("data") == b"zrem":
                        lines.write(f"released {heard:.6f}\n")
            except redis.RedisError:
                time.sleep(0.2)


def last_per_job(path: Path) -> dict[str, float]:
    """The last publish heard of each job: its final update (nothing is published after a job ends)."""
    last: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            job, _, at = line.partition(" ")
            if at and job != "released":
                last[job] = float(at)
    return last


def releases(path: Path) -> int:
    """Bookings of the rate limiter given back unused."""
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.startswith("released "))


if __name__ == "__main__":
    follow(sys.argv[1], Path(sys.argv[2]))
