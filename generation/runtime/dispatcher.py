"""The dispatcher: one per cluster books each free rate-limit slot for the highest-priority parked job.

Every generation worker runs a candidate; one wins a lease in Redis and leads, and any other takes over within
a few seconds if it dies. For each free slot the leader books the highest-priority job that is due in the
waiting room (generation/queue/waiting.py), oldest first, and sends that job to a worker with its booking. A
job that arrives with a booking calls at once: no second trip through the limiter, no race.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

import redis
from django.conf import settings

from core.loops import Loop
from core.ratelimit import Permit, permit_to_message
from core.redis import redis_client, server_time
from generation.provider import gates
from generation.queue import messages
from generation.queue.waiting import PARKED, SLOW, Parked, levels

log = logging.getLogger("generation")
LEADER = "gen:dispatcher:leader"
LEADER_TTL_MS = 3000
IDLE_S = 0.25  # nothing parked, or nothing due yet: look again after this long at most

LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""


class Dispatcher(Loop):
    """Books free slots for parked jobs, highest priority first, while this process holds the lease."""

    name = "gen-dispatcher"

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.holder = name or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        self._lead = redis_client().register_script(LEAD)

    def step(self) -> float:
        """Book slots while this candidate leads; otherwise look again within a third of the leader's lease."""
        return self.book() if self.leads() else LEADER_TTL_MS / 3000

    def leads(self) -> bool:
        return bool(self._lead(keys=[LEADER], args=[self.holder, LEADER_TTL_MS]))

    def book(self) -> float:
        """Book and send as many due jobs as there are free slots; return how long to wait before looking again."""
        client = redis_client()
        target = gates.open_target()
        if target is None:
            # Every breaker is open: wake one due job at a time to take the half-open probe, no more.
            self.wake_one(client)
            return settings.BREAKER_MIN_WAIT_S
        limiter = gates.limiter_for(target)
        now = server_time(client)  # every host parks and books on Redis's clock, never its own
        started = time.monotonic()
        earliest = now + IDLE_S
        # The levels, highest first, then the slow lane, which only ever gets a slot free right now: it never books
        # ahead of a standard job that may still come for it.
        for level in [*levels(client), SLOW]:
            key = PARKED.format(priority=level)
            lookahead = 0.0 if level == SLOW else self.lookahead_s()
            due: list[Any] = client.zrangebyscore(key, "-inf", now, start=0, num=50)
            for member in due:
                job = Parked.parse(member)
                permit = limiter.acquire(job.images, max_wait_s=lookahead)
                if not permit.granted:
                    return min(max(permit.wait_s - lookahead, 0.005), IDLE_S)
                if client.zrem(key, member):
                    self.send(job, (target.name, permit))
                else:
                    limiter.release(permit)  # another dispatcher, or the job's end, took it first
            upcoming = client.zrangebyscore(key, now, "+inf", start=0, num=1, withscores=True)
            if upcoming:
                earliest = min(earliest, float(upcoming[0][1]))
        return min(max(earliest - now - (time.monotonic() - started), 0.005), IDLE_S)

    def wake_one(self, client: redis.Redis) -> None:
        now = server_time(client)
        for level in [*levels(client), SLOW]:
            key = PARKED.format(priority=level)
            oldest: list[Any] = client.zrangebyscore(key, "-inf", now, start=0, num=1)
            for member in oldest:
                if client.zrem(key, member):
                    self.send(Parked.parse(member), None)
                    return

    @staticmethod
    def lookahead_s() -> float:
        """Book a slot this far ahead, so the job's message reaches a worker by the time the slot opens."""
        return min(settings.RATE_LIMIT_MAX_WAIT_S, settings.RATE_LIMIT_WINDOW_S / 20)

    @staticmethod
    def send(job: Parked, booked: tuple[str, Permit] | None) -> None:
        """Send the job to its queue with its booking; give the slot back if the message cannot go."""
        booking = permit_to_message(booked[1], booked[0]) if booked else None
        if not messages.dispatch(job.generation_id, queue=job.queue, permit=booking) and booked:
            gates.release_booking(*booked)


_dispatcher: Dispatcher | None = None


def start_in_this_process() -> None:
    """Run a dispatcher candidate in this worker process (one of them leads at a time)."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = Dispatcher()
        _dispatcher.start()
        log.info("dispatcher candidate started name=%s", _dispatcher.holder)


def stop_in_this_process() -> None:
    if _dispatcher is not None:
        _dispatcher.stop()
