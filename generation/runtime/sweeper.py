"""The safety net: the database says what should be running, and this makes Redis and the workers agree.

Every generation worker runs a sweeper (like the dispatcher), and beat may send `generation.sweep` too; a lock in
Redis lets one sweep run at a time, and every takeover is conditional on the state the sweep saw, so two sweeps
that do overlap (Redis was down, or a lock outlived by a slow sweep) can never take back a job that a live worker
claimed or renewed meanwhile. Times are compared on the database's clock, never a host's own.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from billing.models import Tier
from core.loops import Loop
from core.redis import as_text, redis_client, server_time
from generation import finish, privacy
from generation.models import Generation, ProviderCall
from generation.queue import messages, waiting
from generation.runtime import leases

log = logging.getLogger("generation")
Status = Generation.Status
BATCH = 200
LOCK = "gen:sweep:lock"
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def sweep() -> dict[str, int]:
    """One pass of every repair, unless another sweep holds the lock; the counts of what it did."""
    token = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
    try:
        client = redis_client()
        if not client.set(LOCK, token, nx=True, px=int(max(settings.SWEEP_INTERVAL_S * 3, 30) * 1000)):
            return {}
    except Exception:
        client = None  # without Redis, sweep unlocked: the conditional updates keep overlapping sweeps safe
        log.warning("sweep runs without its lock: Redis is unavailable")
    try:
        counts = {
            "expired": expire_past_deadline(),
            "recovered": recover_dead_workers(),
            "followers": finish_orphaned_followers(),
            "promoted": promote_long_waiting(),
            "redispatched": redispatch_lost(),
            "erased": privacy.erase_closing_accounts(),
        }
    finally:
        if client is not None:
            try:
                client.register_script(RELEASE)(keys=[LOCK], args=[token])
            except Exception:
                log.debug("sweep lock not released; it expires", exc_info=True)
    if any(counts.values()):
        log.info("sweep %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def as_seen(generation: Generation) -> Q:
    """The row only while it is as the sweep saw it: still queued, or still held by the very lease that lapsed."""
    if generation.status == Status.QUEUED:
        return Q(status=Status.QUEUED)
    return Q(status=Status.RUNNING, lease_owner=generation.lease_owner, lease_expires_at=generation.lease_expires_at)


def expire_past_deadline() -> int:
    """Fail (and refund) jobs that are past their deadline and no longer held by a live worker."""
    stale = Generation.objects.filter(deadline_at__lt=Now()).filter(
        Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=Now())
    )[:BATCH]
    done = 0
    for generation in stale:
        with transaction.atomic():
            if finish.expire(generation, expect=as_seen(generation)):
                close_orphan_calls(generation)
                done += 1
    return done


def recover_dead_workers() -> int:
    """Jobs whose worker stopped renewing its lease (killed, frozen, cut off) go back to the queue."""
    done = 0
    for generation in Generation.objects.filter(status=Status.RUNNING, lease_expires_at__lt=Now())[:BATCH]:
        done += recover(generation, reason="worker lost", expect=as_seen(generation))
    return done


def recover_one(generation_id: str, *, reason: str, owner: str) -> None:
    """A worker gives back the job it holds (it hit its time limit)."""
    generation = Generation.objects.filter(pk=generation_id, status=Status.RUNNING, lease_owner=owner).first()
    if generation is not None:
        recover(generation, reason=reason, expect=Q(lease_owner=owner))


def recover(generation: Generation, *, reason: str, expect: Q) -> bool:
    """Queue the job again (or fail it, out of attempts); a call left in flight is closed as of unknown outcome."""
    with transaction.atomic():
        if generation.attempts >= settings.GENERATION_MAX_ATTEMPTS:
            taken = finish.fail(
                generation,
                code="worker_lost",
                message="We could not finish this generation; you were not charged.",
                expect=expect,
            )
        else:
            taken = leases.defer(generation, seconds=0, stage=Generation.Stage.QUEUED, reason=reason, expect=expect)
        if taken:
            close_orphan_calls(generation)
    return taken


def close_orphan_calls(generation: Generation) -> None:
    """A call still 'in flight' for a job nobody runs was cut off: its outcome is unknown upstream."""
    ProviderCall.objects.filter(generation=generation, outcome=ProviderCall.Outcome.IN_FLIGHT).update(
        outcome=ProviderCall.Outcome.UNKNOWN, error_code="worker_lost", cost_usd=generation.estimated_cost_usd
    )


def finish_orphaned_followers() -> int:
    """Jobs waiting for an identical one that has ended: normally settled once it commits, but its process may die."""
    ended = (
        Generation.objects.filter(status=Status.QUEUED, cached=False, cached_from__status__in=Generation.FINAL)
        .values_list("cached_from_id", flat=True)
        .distinct()[:BATCH]
    )
    leaders = list(ended)
    for leader_id in leaders:
        finish.finish_followers(leader_id)
    return len(leaders)


def redispatch_lost() -> int:
    """Queued jobs whose message is gone (Redis restarted, enqueue failed, a dead worker's prefetch) are sent again.

    A job counts as lost once it is due and no worker has picked its message up for REDISPATCH_AFTER_S; a
    duplicate message costs nothing, because only one delivery can claim the job. Jobs waiting in the waiting
    room or for a message still due are left out before the batch is cut, however many of them there are.
    """
    try:
        client = redis_client()
        horizon = server_time(client) - settings.REDISPATCH_AFTER_S
        client.zremrangebyscore(messages.ENQUEUED_SET, "-inf", horizon)
        pending = {as_text(m) for m in client.zrangebyscore(messages.ENQUEUED_SET, horizon, "+inf")}
        pending |= waiting.parked_ids(client)  # waiting for a slot, not lost
    except Exception:
        return 0  # Redis is down: nothing can be dispatched now anyway
    since = Now() - timedelta(seconds=settings.REDISPATCH_AFTER_S)
    lost = (
        Generation.objects.filter(status=Status.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=Now()))
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=since))
        .filter(created_at__lt=Now() - timedelta(seconds=2))
        .exclude(pk__in=pending)
        .order_by("created_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(messages.dispatch(pk) for pk in list(lost))


def promote_long_waiting() -> int:
    """Move a job that waited PRIORITY_AGING_S up one tier, and again after each further PRIORITY_AGING_S.

    One step at a time, never straight past the top tier's fresh work; at each level a parked job keeps its place
    by age (waiting.move_up), so it goes ahead of that level's later arrivals. Nobody starves. The slow lane never
    ages: its jobs asked to wait behind every standard job, however long that takes.
    """
    levels = sorted(set(Tier.objects.values_list("priority", "queue")))
    cutoff = Now() - timedelta(seconds=settings.PRIORITY_AGING_S)
    done = 0
    for (priority, _), (next_priority, next_queue) in itertools.pairwise(levels):
        if next_priority == priority:
            continue
        aged = Generation.objects.filter(status=Status.QUEUED, lane=Generation.Lane.STANDARD, priority=priority).filter(
            Q(promoted_at__lt=cutoff) | Q(promoted_at__isnull=True, created_at__lt=cutoff)
        )
        rows = list(aged.values_list("pk", "n", "queue")[:BATCH])
        if not rows:
            continue
        ids = [pk for pk, _, _ in rows]
        Generation.objects.filter(pk__in=ids, status=Status.QUEUED, priority=priority).update(
            priority=next_priority, queue=next_queue, promoted_at=Now()
        )
        for pk, images, queue in rows:
            try:
                if waiting.move_up(pk, images=images, old=(priority, queue), new=(next_priority, next_queue)):
                    continue  # it waits on at its new level, in the place its age gives it
            except Exception:
                log.debug("could not move gen=%s up in the waiting room", pk, exc_info=True)
            messages.dispatch(pk)  # a copy in the faster queue; whichever message comes first claims the job
        done += len(ids)
    return done


class Sweeper(Loop):
    """Sweeps every SWEEP_INTERVAL_S in a worker process; the lock in `sweep` lets one sweep run at a time."""

    name = "gen-sweeper"

    def step(self) -> float:
        sweep()
        return float(settings.SWEEP_INTERVAL_S)


_sweeper: Sweeper | None = None


def start_in_this_process() -> None:
    global _sweeper
    if _sweeper is None:
        _sweeper = Sweeper()
        _sweeper.start()


def stop_in_this_process() -> None:
    if _sweeper is not None:
        _sweeper.stop()
