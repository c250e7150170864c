"""A job's message to the workers: sent by task name, after commit, and re-sent by the sweeper if it is lost."""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from core.redis import redis_client, zadd_after
from generation.models import Generation

log = logging.getLogger("generation")
RUN_TASK = "generation.run"
ENQUEUED_SET = "gen:enqueued"  # id -> when its message should be picked up (the sweeper re-sends it if not)


def dispatch(
    generation_id: uuid.UUID | str,
    countdown: float = 0,
    *,
    queue: str | None = None,
    permit: dict[str, object] | None = None,
) -> bool:
    """Send the job's id to its tier's queue; if the broker is down the sweeper sends it later.

    The dispatcher passes the queue it parked the job with (no database read) and the slot it booked.
    """
    if queue is not None:
        return send(generation_id, queue, countdown, permit=permit)
    generation = (
        Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).only("queue", "request_id").first()
    )
    if generation is None:
        return False
    if not send(generation_id, generation.queue, countdown, request_id=generation.request_id):
        return False
    Generation.objects.filter(pk=generation_id).update(dispatched_at=Now())
    return True


def dispatch_later(generation_id: uuid.UUID, seconds: float) -> None:
    transaction.on_commit(lambda: dispatch(generation_id, countdown=max(seconds, 0)))


def send(
    generation_id: uuid.UUID | str,
    queue: str,
    countdown: float,
    *,
    request_id: str = "",
    permit: dict[str, object] | None = None,
) -> bool:
    # Never a countdown past the broker's redelivery horizon (see interiorai/celery.py): a job due later is simply
    # dispatched again when this message arrives early.
    countdown = min(max(countdown, 0.0), settings.RETRY_MAX_DELAY_S)
    try:
        current_app.send_task(
            RUN_TASK,
            (str(generation_id),),
            {"booking": permit} if permit else None,
            queue=queue,
            countdown=countdown or None,
            retry=False,
            headers={"request_id": request_id} if request_id else None,
        )
        # Remember when the message should be picked up (on Redis's clock): the sweeper re-sends it if it never is.
        zadd_after(redis_client(), ENQUEUED_SET, str(generation_id), countdown)
    except Exception:
        log.warning("dispatch failed gen=%s; the sweeper will retry", generation_id, exc_info=True)
        return False
    return True


def picked_up(generation_id: str) -> None:
    """Forget the job's pending message: a worker has it."""
    try:
        redis_client().zrem(ENQUEUED_SET, generation_id)
    except Exception:
        log.debug("could not clear enqueued mark", exc_info=True)
