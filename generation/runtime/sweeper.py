"""The safety net: the database says what should be running, and this makes Redis and the workers agree."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing.models import Tier
from core.redis import as_text, redis_client
from generation import finish
from generation.models import Generation, ProviderCall
from generation.queue import messages, waiting
from generation.runtime import leases

log = logging.getLogger("generation")
Status = Generation.Status
BATCH = 200


def sweep() -> dict[str, int]:
    counts = {
        "expired": expire_past_deadline(),
        "recovered": recover_dead_workers(),
        "promoted": promote_long_waiting(),
        "redispatched": redispatch_lost(),
    }
    if any(counts.values()):
        log.info("sweep %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def expire_past_deadline() -> int:
    """Fail (and refund) jobs that are past their deadline and no longer held by a live worker."""
    now = timezone.now()
    stale = Generation.objects.filter(deadline_at__lt=now).filter(
        Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now)
    )[:BATCH]
    done = 0
    for generation in stale:
        close_orphan_calls(generation)
        done += finish.expire(generation)
    return done


def recover_dead_workers() -> int:
    """Jobs whose worker stopped renewing its lease (killed, frozen) go back to the queue."""
    now = timezone.now()
    done = 0
    for generation in Generation.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now)[:BATCH]:
        done += recover(generation, reason="worker lost")
    return done


def recover_one(generation_id: str, *, reason: str) -> None:
    generation = Generation.objects.filter(pk=generation_id, status=Status.RUNNING).first()
    if generation is not None:
        recover(generation, reason=reason)


def recover(generation: Generation, *, reason: str) -> bool:
    close_orphan_calls(generation)
    generation.refresh_from_db(fields=["attempts"])
    if generation.attempts >= settings.GENERATION_MAX_ATTEMPTS:
        return finish.fail(
            generation, code="worker_lost", message="We could not finish this generation; you were not charged."
        )
    return leases.defer(generation, seconds=0, stage=Generation.Stage.QUEUED, reason=reason)


def close_orphan_calls(generation: Generation) -> None:
    """A call still 'in flight' for a job nobody runs was cut off: its outcome is unknown upstream."""
    ProviderCall.objects.filter(generation=generation, outcome=ProviderCall.Outcome.IN_FLIGHT).update(
        outcome=ProviderCall.Outcome.UNKNOWN, error_code="worker_lost", cost_usd=generation.estimated_cost_usd
    )


def redispatch_lost() -> int:
    """Queued jobs whose message is gone (Redis restarted, enqueue failed, a dead worker's prefetch) are sent again.

    A job counts as lost once it is due and no worker has picked its message up for REDISPATCH_AFTER_S; a
    duplicate message costs nothing, because only one delivery can claim the job.
    """
    now = timezone.now()
    due = Generation.objects.filter(status=Status.QUEUED).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    stale = (
        due.filter(
            Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - timedelta(seconds=settings.REDISPATCH_AFTER_S))
        )
        .filter(created_at__lt=now - timedelta(seconds=2))
        .values_list("pk", flat=True)[:BATCH]
    )
    try:
        client = redis_client()
        horizon = now.timestamp() - settings.REDISPATCH_AFTER_S
        client.zremrangebyscore(messages.ENQUEUED_SET, "-inf", horizon)
        pending = {as_text(m) for m in client.zrangebyscore(messages.ENQUEUED_SET, horizon, "+inf")}
        pending |= waiting.parked_ids(client)  # waiting for a slot, not lost
    except Exception:
        return 0  # Redis is down: nothing can be dispatched now anyway
    done = 0
    for pk in stale:
        if str(pk) not in pending:
            done += messages.dispatch(pk)
    return done


def promote_long_waiting() -> int:
    """Move a job that waited PRIORITY_AGING_S up one tier, and again after each further PRIORITY_AGING_S.

    One step at a time: a free job that waited long goes ahead of fresh free jobs and level with fresh pro ones,
    never straight past the top tier's fresh work. Nobody starves, and paid tiers keep what they pay for.
    """
    levels = sorted(set(Tier.objects.values_list("priority", "queue")))
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.PRIORITY_AGING_S)
    done = 0
    for (priority, _), (next_priority, next_queue) in itertools.pairwise(levels):
        if next_priority == priority:
            continue
        waiting = Generation.objects.filter(status=Status.QUEUED, priority=priority).filter(
            Q(promoted_at__lt=cutoff) | Q(promoted_at__isnull=True, created_at__lt=cutoff)
        )
        rows = list(waiting.values_list("pk", "n", "queue")[:BATCH])
        if not rows:
            continue
        ids = [pk for pk, _, _ in rows]
        Generation.objects.filter(pk__in=ids, status=Status.QUEUED, priority=priority).update(
            priority=next_priority, queue=next_queue, promoted_at=now
        )
        for pk, images, queue in rows:
            try:
                waiting.unpark(pk, priority=priority, images=images, queue=queue)
            except Exception:
                log.debug("could not unpark gen=%s", pk, exc_info=True)
            messages.dispatch(pk)  # a copy in the faster queue; whichever message comes first claims the job
        done += len(ids)
    return done
