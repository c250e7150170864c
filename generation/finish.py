"""The one way a generation ends: a conditional update of its row, its money settled once, then the news.

Succeeded, failed, cancelled, or served from the identical job it waited for: each is `finish()` with its own
condition and fields. Whichever process loses a race (a cancel against a success, two sweeps) changes
nothing, and the reservation made at creation is captured or released exactly once, in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from billing import services as billing
from core.api import ApiError
from generation import events
from generation.cache import lookup
from generation.files import delete_files
from generation.models import Generation, ProviderCall
from generation.provider import families
from generation.queue import messages, waiting
from generation.signals import generation_finished

log = logging.getLogger("generation")
Status = Generation.Status
Stage = Generation.Stage
Billing = Generation.Billing
UNFINISHED = (Status.QUEUED, Status.RUNNING)
DEADLINE_MESSAGE = "This generation took too long and was stopped; you were not charged."
RENDERING_MESSAGE = (
    "The image model is already redesigning this room, so it can no longer be cancelled: "
    "the result will arrive and be charged."
)
SENT = (ProviderCall.Outcome.IN_FLIGHT, ProviderCall.Outcome.SUCCESS)


def finish(
    generation: Generation,
    rows: QuerySet[Generation],
    *,
    charge: Decimal | None,
    note: str = "",
    then: Callable[[], object] | None = None,
    **fields: Any,
) -> bool:
    """End the job if `rows` still matches it: write `fields`, settle (capture `charge`, or release), announce.

    Returns False, changing nothing, when the row no longer matches (it ended, or someone else holds it).
    """
    with transaction.atomic():
        ended = rows.update(
            stage=Stage.DONE, finished_at=timezone.now(), lease_owner="", lease_expires_at=None, **fields
        )
        if ended != 1:
            return False
        generation.refresh_from_db()
        billing.settle(generation, charge_usd=charge, note=note)
        announce_final(generation)
        if then is not None:
            transaction.on_commit(then, robust=True)
    return True


def held_by(generation: Generation, owner: str | None = None, expect: Q | None = None) -> QuerySet[Generation]:
    """The job's row while it is unfinished; while `owner` holds it, if given; while it is as `expect` says, if given.

    A worker passes `owner`: it can only change a job it still holds. The sweeper passes the lease it saw lapse as
    `expect`: it must never take back a job that a live worker claimed or renewed since.
    """
    rows = Generation.objects.filter(pk=generation.pk, status__in=UNFINISHED)
    if owner is not None:
        rows = rows.filter(status=Status.RUNNING, lease_owner=owner)
    return rows if expect is None else rows.filter(expect)


def succeed(generation: Generation, owner: str, *, image_names: list[str], cost: Decimal) -> bool:
    """Finish the job, capture its cost once; False (and nothing charged) if it was taken away meanwhile."""
    done = finish(
        generation,
        Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner),
        charge=cost,
        then=lambda: after_success(generation.pk, generation.owner_id),
        status=Status.SUCCEEDED,
        progress=100,
        images=image_names,
        cost_usd=cost,
        billing_state=Billing.CAPTURED,
        cache_key=lookup.key_for(generation),
        cache_scope=lookup.scope_for(generation),
    )
    if not done:
        transaction.on_commit(lambda: delete_files(image_names))
        return False
    log.info("generation succeeded gen=%s images=%s cost_usd=%s", generation.pk, len(image_names), cost)
    return True


def fail(generation: Generation, *, code: str, message: str, owner: str | None = None, expect: Q | None = None) -> bool:
    """End the job as failed and release its reservation: the user pays nothing for it."""
    done = finish(
        generation,
        held_by(generation, owner, expect),
        charge=None,
        note=f"failed: {code}",
        then=lambda: after_ending(generation.pk),
        status=Status.FAILED,
        error_code=code[:40],
        error_message=message[:300],
        billing_state=Billing.RELEASED,
    )
    if done:
        log.info("generation failed gen=%s code=%s", generation.pk, code)
    return done


def expire(generation: Generation, *, owner: str | None = None, expect: Q | None = None) -> bool:
    """Fail a job that ran out of time, whatever the provider last said (a 429 is never the user's to see)."""
    return fail(generation, code="deadline", message=DEADLINE_MESSAGE, owner=owner, expect=expect)


def cancel(generation: Generation) -> bool:
    """Cancel, free, while the provider call has not been sent; once it has, refuse with 409 `already_rendering`.

    The job's row is locked before its calls are looked at, and a worker records its call (runtime.leases.start_call)
    only while the job is still running, behind the same lock: either the cancel comes first and no call goes out,
    or the call is recorded first and the cancel is refused, so nobody pays the provider for a discarded result.
    Returns False, changing nothing, when the job had already ended.
    """
    with transaction.atomic():
        row = Generation.objects.select_for_update().filter(pk=generation.pk, status__in=UNFINISHED).first()
        if row is None:
            return False
        if call_sent(row):
            raise ApiError("already_rendering", RENDERING_MESSAGE, 409)
        done = finish(
            generation,
            held_by(generation, None),
            charge=None,
            note="cancelled",
            then=lambda: after_ending(generation.pk),
            status=Status.CANCELLED,
            cancel_requested=True,
            billing_state=Billing.RELEASED,
        )
    if done:
        log.info("generation cancelled gen=%s", generation.pk)
    return done


def call_sent(generation: Generation) -> bool:
    """Whether the provider call of the job's current attempt was sent and has not failed (it is rendering)."""
    calls = ProviderCall.objects.filter(generation_id=generation.pk, attempt=generation.attempts, outcome__in=SENT)
    return calls.exists()


def announce_final(generation: Generation) -> None:
    """Tell the owner's open pages and the plug-ins (webhooks) that the job ended; call inside its transaction."""
    events.publish(generation)
    for receiver, error in generation_finished.send_robust(sender=Generation, generation=generation):
        if isinstance(error, Exception):  # a plug-in's trouble must never undo the job's end
            log.error("generation_finished receiver failed gen=%s receiver=%s", generation.pk, receiver, exc_info=error)
    transaction.on_commit(lambda: leave_waiting_room(generation), robust=True)


def leave_waiting_room(generation: Generation) -> None:
    """A job that ended while parked must not have a rate-limit slot booked for it later."""
    try:
        waiting.unpark(generation.pk, priority=generation.priority, images=generation.n, queue=generation.queue)
    except Exception:
        log.debug("could not unpark gen=%s", generation.pk, exc_info=True)


# Followers: jobs that wait for an identical one in flight instead of calling the provider again -----------


def after_ending(generation_id: uuid.UUID) -> None:
    """A job that failed or was cancelled: its followers go on without it, and provider work it left is cancelled."""
    finish_followers(generation_id)
    try:
        families.cancel_pending(generation_id)
    except Exception:
        log.warning("could not cancel the provider work of gen=%s", generation_id, exc_info=True)


def after_success(generation_id: uuid.UUID, owner_id: Any) -> None:
    finish_followers(generation_id)
    lookup.trim(owner_id)


def finish_followers(leader_id: uuid.UUID) -> None:
    """Once a job ends, its followers get its images; if it failed, the first of them runs in its place."""
    leader = Generation.objects.filter(pk=leader_id).first()
    if leader is None or not leader.is_final:
        return
    waiting_ids = Generation.objects.filter(cached_from_id=leader_id, status=Status.QUEUED, cached=False)
    ids = list(waiting_ids.order_by("created_at").values_list("pk", flat=True))
    if not ids:
        return
    if leader.status == Status.SUCCEEDED and leader.images:
        for pk in ids:
            complete_follower(pk, leader)
    else:
        promote_follower(leader, ids)


def complete_follower(generation_id: uuid.UUID, source: Generation) -> bool:
    """Finish a waiting job with its leader's images (shared, not copied); its reservation is released."""
    follower = Generation.objects.filter(pk=generation_id).first()
    if follower is None:
        return False
    done = finish(
        follower,
        Generation.objects.filter(pk=generation_id, status=Status.QUEUED, cached_from=source),
        charge=None,
        note="cached: served from an identical request",
        status=Status.SUCCEEDED,
        progress=100,
        provider=source.provider,
        model=source.model,
        images=list(source.images),
        cost_usd=Decimal("0"),
        billing_state=Billing.RELEASED,
        cached=True,
        cache_key="",
        cache_scope="",
        not_before=None,
        started_at=timezone.now(),
    )
    if done:
        log.info("generation served from its leader gen=%s leader=%s", generation_id, source.pk)
    return done


def promote_follower(leader: Generation, ids: list[uuid.UUID]) -> None:
    """The leader failed or was cancelled: the oldest follower runs on its own, the others now wait for it."""
    first, rest = ids[0], ids[1:]
    with transaction.atomic():
        if not Generation.objects.filter(pk=first, status=Status.QUEUED, cached_from=leader).update(
            cached_from=None, not_before=None
        ):
            return  # another process promoted it first
        Generation.objects.filter(pk__in=rest, status=Status.QUEUED, cached_from=leader).update(cached_from_id=first)
        transaction.on_commit(lambda: messages.dispatch(first))
    log.info("generation runs after its leader %s gen=%s leader=%s", leader.status, first, leader.pk)
