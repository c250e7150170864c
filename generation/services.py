"""Every state change of rooms and generations: one place writes the row, enqueues after commit, emits the event."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import pricing
from billing import services as billing
from core.api import ApiError
from core.redis import redis_client
from developers import webhooks
from generation import cache, events
from generation.estimates import estimated_wait_s, queue_snapshot, remember_snapshot
from generation.images import clean_photo, output_size_for
from generation.models import Generation, ProviderCall, Room

log = logging.getLogger("generation")
ENQUEUED_SET = "gen:enqueued"
Status = Generation.Status
Stage = Generation.Stage


# Rooms ---------------------------------------------------------------------------------------------------


def create_room(user: Any, *, name: str, room_type: str, photo_bytes: bytes) -> Room:
    """Store a verified, re-encoded copy of the photo under a server-made name."""
    photo = clean_photo(photo_bytes)
    room = Room(
        owner=user, name=name, room_type=room_type, photo_sha256=photo.sha256, width=photo.width, height=photo.height
    )
    room.photo.save("room.jpg", ContentFile(photo.content), save=False)
    try:
        room.save()
    except Exception:
        room.photo.delete(save=False)
        raise
    log.info("room created room=%s user=%s size=%sx%s", room.pk, user.pk, room.width, room.height)
    return room


def delete_room(room: Room) -> None:
    """Delete the room and its photo; queued jobs for it are cancelled and its cached results forgotten."""
    with transaction.atomic():
        for generation in room.generations.filter(status__in=[Status.QUEUED, Status.RUNNING]):
            cancel(generation)
        room.generations.update(cache_key="")
        name = room.photo.name
        room.delete()
        if name:
            transaction.on_commit(lambda: default_storage.delete(name))


# Creating and dispatching ------------------------------------------------------------------------------


def request_fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def create_generation(
    user: Any,
    room: Room,
    *,
    style: str,
    room_type: str,
    prompt: str,
    quality: str,
    n: int,
    variant: int = 0,
    request_id: str = "",
    callback_url: str = "",
) -> Generation:
    """Reserve quota and money and create the job in one transaction; it is enqueued once that commits."""
    from generation.provider import targets

    model = settings.OPENAI_IMAGE_MODEL
    with transaction.atomic():
        account = billing.lock_account(user)
        tier = account.tier
        size = tier.fit_size(output_size_for(room.width, room.height))
        if quality not in tier.allowed_qualities:
            raise ApiError(
                "quality_not_allowed",
                f"The {tier.name} plan offers {', '.join(tier.allowed_qualities)} quality.",
                403 if quality in ("high",) else 400,
            )
        if n > tier.max_images:
            raise ApiError("too_many_images", f"The {tier.name} plan allows {tier.max_images} image(s) per request.")
        # A result already paid for is served before any limit on new work applies: it costs nothing.
        found = cache.probe(
            user,
            room,
            tier,
            style=style,
            room_type=room_type,
            prompt=prompt,
            model=model,
            size=size,
            quality=quality,
            n=n,
            variant=variant,
        )
        if found.source is not None:
            return serve_cached(user, room, found, request_id=request_id, callback_url=callback_url)
        waiting = Generation.objects.filter(owner=user, status__in=[Status.QUEUED, Status.RUNNING]).count()
        if waiting >= settings.MAX_QUEUED_PER_USER:
            error = ApiError(
                "too_many_in_flight",
                f"You already have {waiting} generations waiting; try again when some finish.",
                429,
            )
            error.headers["Retry-After"] = "30"
            raise error
        position, wait_s = admit_or_refuse(tier, model)
        # Held at the most any target (primary or fallback) can charge, `auto` quality at the highest.
        serving = targets()
        estimate = pricing.estimate_any([t.model for t in serving], size, quality, n, provider=serving[0].provider)
        generation = Generation.objects.create(
            owner=user,
            room=room,
            style=style,
            room_type=room_type,
            prompt=prompt,
            quality=quality,
            size=size,
            n=n,
            variant=variant,
            queue=tier.queue,
            priority=tier.priority,
            model=model,
            estimated_cost_usd=estimate,
            request_id=request_id,
            callback_url=callback_url,
            deadline_at=timezone.now() + timedelta(seconds=settings.GENERATION_DEADLINE_S),
            **found.row_fields(),
        )
        remember_snapshot(generation, position, wait_s)
        billing.reserve(account, generation, estimate)
        if not follow(generation, found.leader):
            transaction.on_commit(lambda: dispatch(generation.pk))
        publish(generation)
    log.info(
        "generation created gen=%s user=%s style=%s quality=%s n=%s queue=%s est_usd=%s",
        generation.pk,
        user.pk,
        style,
        quality,
        n,
        tier.queue,
        estimate,
    )
    return generation


def admit_or_refuse(tier: Any, model: str) -> tuple[int, int]:
    """Where a new job of this tier would stand, and its wait; refuse it (503) if it could not finish in time.

    Under a load the provider cannot serve, accepting would only make the user wait out the whole deadline for a
    refund. Saying so at once is kinder, costs nothing, and paid tiers, who stand ahead, are refused last.
    """
    ahead = Generation.objects.filter(status=Status.QUEUED, priority__gte=tier.priority).count()
    wait_s = estimated_wait_s(ahead + 1, model)
    limit = settings.ADMISSION_MAX_WAIT_S
    if limit and wait_s > limit:
        minutes = max(round(wait_s / 60), 1)
        error = ApiError(
            "at_capacity",
            f"We are at capacity: a new redesign would wait about {minutes} min, longer than we hold a request. "
            "Please try again in a few minutes; nothing was charged.",
            503,
        )
        error.headers["Retry-After"] = str(min(max(round(wait_s - limit), 1), 3600))
        log.warning("generation refused: at capacity tier=%s position=%s wait_s=%s", tier.slug, ahead + 1, wait_s)
        raise error
    return ahead + 1, wait_s


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
    generation = Generation.objects.filter(pk=generation_id, status=Status.QUEUED).only("queue", "request_id").first()
    if generation is None:
        return False
    if not send(generation_id, generation.queue, countdown, request_id=generation.request_id):
        return False
    Generation.objects.filter(pk=generation_id).update(dispatched_at=timezone.now())
    return True


def send(
    generation_id: uuid.UUID | str,
    queue: str,
    countdown: float,
    *,
    request_id: str = "",
    permit: dict[str, object] | None = None,
) -> bool:
    from generation.tasks import run_generation

    # Never a countdown past the broker's redelivery horizon (see interiorai/celery.py): a job due later is simply
    # dispatched again when this message arrives early.
    countdown = min(max(countdown, 0.0), settings.RETRY_MAX_DELAY_S)
    try:
        run_generation.apply_async(
            (str(generation_id),),
            {"booking": permit} if permit else None,
            queue=queue,
            countdown=countdown or None,
            retry=False,
            headers={"request_id": request_id} if request_id else None,
        )
        # Remember when the message should be picked up: the sweeper re-sends it if it never is.
        redis_client().zadd(ENQUEUED_SET, {str(generation_id): timezone.now().timestamp() + countdown})
    except Exception:
        log.warning("dispatch failed gen=%s; the sweeper will retry", generation_id, exc_info=True)
        return False
    return True


# The worker's side --------------------------------------------------------------------------------------


def claim(generation_id: str, owner: str) -> Generation | None:
    """Take the job for this worker, or None if it is not ours to run (duplicate, cancelled, too early, busy)."""
    now = timezone.now()
    try:
        redis_client().zrem(ENQUEUED_SET, generation_id)
    except Exception:
        log.debug("could not clear enqueued mark", exc_info=True)
    generation = Generation.objects.filter(pk=generation_id).select_related("owner__account__tier").first()
    if generation is None or generation.status != Status.QUEUED:
        return None
    if generation.not_before and generation.not_before > now + timedelta(seconds=1):
        dispatch_later(generation.pk, (generation.not_before - now).total_seconds())
        return None
    cap = generation.owner.account.tier.max_in_flight
    running = Generation.objects.filter(owner_id=generation.owner_id, status=Status.RUNNING).count()
    if running >= cap:
        # Fairness: one user's backlog waits its turn instead of filling every worker slot.
        defer(generation, seconds=settings.IN_FLIGHT_RETRY_S, stage=Stage.QUEUED, reason="user at in-flight cap")
        return None
    claimed = Generation.objects.filter(pk=generation_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=settings.GENERATION_LEASE_S),
        started_at=F("started_at") if generation.started_at else now,
        not_before=None,
    )
    if claimed != 1:
        return None
    generation.refresh_from_db()
    log.info("generation claimed gen=%s worker=%s attempt=%s", generation.pk, owner, generation.attempts + 1)
    return generation


def dispatch_later(generation_id: uuid.UUID, seconds: float) -> None:
    transaction.on_commit(lambda: dispatch(generation_id, countdown=max(seconds, 0)))


def renew_lease(generation: Generation, owner: str) -> bool:
    """Extend the worker's lease; False if the job was taken away (cancelled, failed past its deadline)."""
    until = timezone.now() + timedelta(seconds=settings.GENERATION_LEASE_S)
    return (
        Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(
            lease_expires_at=until
        )
        == 1
    )


def defer(
    generation: Generation,
    *,
    seconds: float,
    stage: str,
    reason: str,
    owner: str | None = None,
    parked: bool = False,
) -> bool:
    """Put the job back in the queue to run after `seconds`, without failing it or burning an attempt.

    A worker passes `owner`: it can only give back a job it still holds, never one the sweeper handed to another.
    A parked job waits in the dispatcher's waiting room instead of as a delayed message (see dispatcher.py).
    """
    now = timezone.now()
    not_before = now + timedelta(seconds=seconds)
    rows = Generation.objects.filter(pk=generation.pk, status__in=[Status.QUEUED, Status.RUNNING])
    if owner is not None:
        rows = rows.filter(status=Status.RUNNING, lease_owner=owner)
    with transaction.atomic():
        moved = rows.update(
            status=Status.QUEUED,
            stage=stage,
            not_before=not_before,
            lease_owner="",
            lease_expires_at=None,
            dispatched_at=now if parked else F("dispatched_at"),
        )
        if moved != 1:
            return False
        generation.refresh_from_db()
        if parked:
            transaction.on_commit(lambda: park_now(generation, not_before.timestamp()))
        else:
            dispatch_later(generation.pk, seconds)
        publish(generation)
    log.info("generation deferred gen=%s stage=%s wait_s=%.1f reason=%s", generation.pk, stage, seconds, reason)
    return True


def park(generation: Generation, *, seconds: float, reason: str, owner: str) -> bool:
    """Wait for a rate-limit slot in the dispatcher's waiting room: no message, no worker slot, no attempt."""
    return defer(generation, seconds=seconds, stage=Stage.WAITING, reason=reason, owner=owner, parked=True)


def park_now(generation: Generation, ready_at: float) -> None:
    from generation import dispatcher

    try:
        dispatcher.park(
            generation.pk, priority=generation.priority, images=generation.n, queue=generation.queue, ready_at=ready_at
        )
    except Exception:
        # Without Redis it cannot wait there; a delayed message (or, failing that, the sweeper) brings it back.
        log.warning("could not park gen=%s; dispatching instead", generation.pk, exc_info=True)
        dispatch(generation.pk, countdown=max(ready_at - timezone.now().timestamp(), 0))


def reclaim(generation: Generation, owner: str) -> bool:
    """Take back a job whose lease lapsed while its call was in flight, if no other worker has claimed it since.

    The provider already did (and billed) the work: keeping the result beats running the job a second time.
    """
    now = timezone.now()
    taken = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(
        status=Status.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=settings.GENERATION_LEASE_S),
        not_before=None,
    )
    if taken:
        log.warning("generation reclaimed gen=%s worker=%s: lease had lapsed during the call", generation.pk, owner)
    return taken == 1


def set_stage(generation: Generation, owner: str, stage: str, progress: int) -> bool:
    updated = Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(
        stage=stage, progress=progress
    )
    if updated:
        generation.stage, generation.progress = stage, progress
        publish(generation, on_commit=False)
    return updated == 1


def set_progress(generation: Generation, owner: str, progress: int, *, persist: bool) -> None:
    """Move the bar; the database is written only every few ticks, the event goes out every tick."""
    generation.progress = progress
    if persist:
        Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(progress=progress)
    publish(generation, on_commit=False)


def start_call(generation: Generation, provider: str, model: str) -> ProviderCall:
    """Record the provider call before it is made, so calls upstream always equal calls recorded."""
    with transaction.atomic():
        Generation.objects.filter(pk=generation.pk).update(attempts=F("attempts") + 1, provider=provider, model=model)
        generation.refresh_from_db(fields=["attempts", "provider", "model"])
        call = ProviderCall.objects.create(
            generation=generation, attempt=generation.attempts, provider=provider, model=model
        )
    log.info("provider call start gen=%s attempt=%s provider=%s model=%s", generation.pk, call.attempt, provider, model)
    return call


def finish_call(
    call: ProviderCall,
    *,
    outcome: str,
    status_code: int | None,
    error_code: str = "",
    latency_s: float,
    cost: Decimal = Decimal("0"),
    request_id: str = "",
) -> None:
    call.outcome, call.status_code, call.error_code = outcome, status_code, error_code[:60]
    call.latency_ms, call.cost_usd, call.provider_request_id = int(latency_s * 1000), cost, request_id[:100]
    call.save(update_fields=["outcome", "status_code", "error_code", "latency_ms", "cost_usd", "provider_request_id"])
    log.info(
        "provider call end gen=%s attempt=%s outcome=%s status=%s latency_ms=%s cost_usd=%s",
        call.generation_id,
        call.attempt,
        outcome,
        status_code,
        call.latency_ms,
        cost,
    )


def delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def store_images(generation: Generation, images: list[bytes]) -> list[str]:
    names = []
    for index, content in enumerate(images):
        names.append(
            default_storage.save(f"results/{generation.pk.hex}/{uuid.uuid4().hex}-{index}.jpg", ContentFile(content))
        )
    return names


def succeed(generation: Generation, owner: str, *, image_names: list[str], cost: Decimal) -> bool:
    """Finish the job, capture its cost once; False (and nothing charged) if it was taken away meanwhile."""
    with transaction.atomic():
        done = Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(
            status=Status.SUCCEEDED,
            stage=Stage.DONE,
            progress=100,
            images=image_names,
            cost_usd=cost,
            billing_state=Generation.Billing.CAPTURED,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            cache_key=cache_key_for(generation),
            cache_scope=cache.scope_for(generation),
        )
        if done != 1:
            transaction.on_commit(lambda: delete_files(image_names))
            return False
        generation.refresh_from_db()
        billing.settle(generation, charge_usd=cost)
        announce_final(generation)
        transaction.on_commit(lambda: after_success(generation.pk, generation.owner_id), robust=True)
    log.info("generation succeeded gen=%s images=%s cost_usd=%s", generation.pk, len(image_names), cost)
    return True


def fail(generation: Generation, *, code: str, message: str, owner: str | None = None) -> bool:
    """End the job as failed and release its reservation: the user pays nothing for it."""
    with transaction.atomic():
        rows = Generation.objects.filter(pk=generation.pk, status__in=[Status.QUEUED, Status.RUNNING])
        if owner is not None:
            rows = rows.filter(status=Status.RUNNING, lease_owner=owner)
        if (
            rows.update(
                status=Status.FAILED,
                stage=Stage.DONE,
                error_code=code[:40],
                error_message=message[:300],
                billing_state=Generation.Billing.RELEASED,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
            )
            != 1
        ):
            return False
        generation.refresh_from_db()
        billing.settle(generation, charge_usd=None, note=f"failed: {code}")
        announce_final(generation)
        transaction.on_commit(lambda: finish_followers(generation.pk), robust=True)
    log.info("generation failed gen=%s code=%s", generation.pk, code)
    return True


DEADLINE_MESSAGE = "This generation took too long and was stopped; you were not charged."


def expire(generation: Generation, *, owner: str | None = None) -> bool:
    """Fail a job that ran out of time, whatever the provider last said (a 429 is never the user's to see)."""
    return fail(generation, code="deadline", message=DEADLINE_MESSAGE, owner=owner)


def cancel(generation: Generation) -> bool:
    """Cancel at once; a running call's result is discarded when it returns. Nothing is charged."""
    with transaction.atomic():
        if (
            Generation.objects.filter(pk=generation.pk, status__in=[Status.QUEUED, Status.RUNNING]).update(
                status=Status.CANCELLED,
                stage=Stage.DONE,
                cancel_requested=True,
                billing_state=Generation.Billing.RELEASED,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
            )
            != 1
        ):
            return False
        generation.refresh_from_db()
        billing.settle(generation, charge_usd=None, note="cancelled")
        announce_final(generation)
        transaction.on_commit(lambda: finish_followers(generation.pk), robust=True)
    log.info("generation cancelled gen=%s", generation.pk)
    return True


def cache_key_for(generation: Generation) -> str:
    return cache.key_for(generation)


def refund(generation: Generation, *, actor: Any, note: str = "") -> bool:
    """Give back a captured charge (support action), once: the ledger's refund, and the job no longer charged."""
    with transaction.atomic():
        # The generation's row first, then the account: the order every settlement takes, so none deadlock.
        list(Generation.objects.select_for_update().filter(pk=generation.pk).values_list("pk", flat=True))
        if not billing.refund(generation, actor=actor, note=note):
            return False
        Generation.objects.filter(pk=generation.pk, billing_state=Generation.Billing.CAPTURED).update(
            billing_state=Generation.Billing.RELEASED
        )
    log.info("generation refunded gen=%s actor=%s", generation.pk, getattr(actor, "pk", None))
    return True


# The result cache (lookups in generation/cache.py) -------------------------------------------------------


def serve_cached(user: Any, room: Room, found: cache.Probe, *, request_id: str, callback_url: str) -> Generation:
    """Create the job already finished from an earlier result: no provider call, no charge, no quota used."""
    source = found.source
    assert source is not None
    now = timezone.now()
    generation = Generation.objects.create(
        owner=user,
        room=room,
        **found.request,
        status=Status.SUCCEEDED,
        stage=Stage.DONE,
        progress=100,
        provider=source.provider,
        model=source.model,
        billing_state=Generation.Billing.RELEASED,
        cached=True,
        cached_from=source,
        images=list(source.images),
        request_id=request_id,
        callback_url=callback_url,
        started_at=now,
        finished_at=now,
        deadline_at=now,
    )
    announce_final(generation)
    log.info("generation served from cache gen=%s source=%s kind=%s", generation.pk, source.pk, found.kind)
    return generation


def follow(generation: Generation, leader: Generation | None) -> bool:
    """Let the new job wait for an identical one in flight instead of calling the provider a second time."""
    if leader is None:
        return False
    # Never dispatched, and hidden from the sweeper's re-dispatch until its deadline: the leader's end settles it.
    Generation.objects.filter(pk=generation.pk).update(cached_from=leader, not_before=generation.deadline_at)
    generation.cached_from, generation.not_before = leader, generation.deadline_at
    leader_id = leader.pk
    # The leader may have ended before this commits: look again once it has (finish_followers is idempotent).
    transaction.on_commit(lambda: finish_followers(leader_id), robust=True)
    log.info("generation follows gen=%s leader=%s", generation.pk, leader_id)
    return True


def after_success(generation_id: uuid.UUID, owner_id: Any) -> None:
    finish_followers(generation_id)
    cache.trim(owner_id)


def finish_followers(leader_id: uuid.UUID) -> None:
    """Once a job ends, its followers get its images; if it failed, the first of them runs in its place."""
    leader = Generation.objects.filter(pk=leader_id).first()
    if leader is None or not leader.is_final:
        return
    waiting = Generation.objects.filter(cached_from_id=leader_id, status=Status.QUEUED, cached=False)
    ids = list(waiting.order_by("created_at").values_list("pk", flat=True))
    if not ids:
        return
    if leader.status == Status.SUCCEEDED and leader.images:
        for pk in ids:
            complete_follower(pk, leader)
    else:
        promote_follower(leader, ids)


def complete_follower(generation_id: uuid.UUID, source: Generation) -> bool:
    """Finish a waiting job with its leader's images (shared, not copied); its reservation is released."""
    now = timezone.now()
    with transaction.atomic():
        done = Generation.objects.filter(pk=generation_id, status=Status.QUEUED, cached_from=source).update(
            status=Status.SUCCEEDED,
            stage=Stage.DONE,
            progress=100,
            provider=source.provider,
            model=source.model,
            images=list(source.images),
            cost_usd=Decimal("0"),
            billing_state=Generation.Billing.RELEASED,
            cached=True,
            cache_key="",
            cache_scope="",
            not_before=None,
            started_at=now,
            finished_at=now,
        )
        if done != 1:
            return False
        generation = Generation.objects.get(pk=generation_id)
        billing.settle(generation, charge_usd=None, note="cached: served from an identical request")
        announce_final(generation)
    log.info("generation served from its leader gen=%s leader=%s", generation_id, source.pk)
    return True


def promote_follower(leader: Generation, ids: list[uuid.UUID]) -> None:
    """The leader failed or was cancelled: the oldest follower runs on its own, the others now wait for it."""
    first, rest = ids[0], ids[1:]
    with transaction.atomic():
        if not Generation.objects.filter(pk=first, status=Status.QUEUED, cached_from=leader).update(
            cached_from=None, not_before=None
        ):
            return  # another process promoted it first
        Generation.objects.filter(pk__in=rest, status=Status.QUEUED, cached_from=leader).update(cached_from_id=first)
        transaction.on_commit(lambda: dispatch(first))
    log.info("generation runs after its leader %s gen=%s leader=%s", leader.status, first, leader.pk)


# Events -------------------------------------------------------------------------------------------------


def event_payload(generation: Generation) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(generation.pk),
        "status": generation.status,
        "stage": generation.stage,
        "stage_label": Stage(generation.stage).label,
        "progress": generation.progress,
        "attempts": generation.attempts,
        "cached": generation.cached,
    }
    if generation.status == Status.QUEUED:
        payload["position"], payload["estimated_wait_s"] = queue_snapshot(generation)
    if generation.status == Status.SUCCEEDED:
        payload["images"] = image_urls(generation)
        payload["cost_usd"] = str(generation.cost_usd)
    if generation.status == Status.FAILED:
        payload["error"] = {"code": generation.error_code, "message": generation.error_message}
    return payload


def image_urls(generation: Generation) -> list[str]:
    return [f"/media/generations/{generation.pk}/{index}/" for index in range(len(generation.images))]


def announce_final(generation: Generation) -> None:
    """Tell the owner's open pages (and, once it commits, their webhook endpoints) that the job ended."""
    publish(generation)
    webhooks.enqueue_for_generation(generation)
    transaction.on_commit(lambda: leave_waiting_room(generation), robust=True)


def leave_waiting_room(generation: Generation) -> None:
    """A job that ended while parked must not have a rate-limit slot booked for it later."""
    from generation import dispatcher

    try:
        dispatcher.unpark(generation.pk, priority=generation.priority, images=generation.n, queue=generation.queue)
    except Exception:
        log.debug("could not unpark gen=%s", generation.pk, exc_info=True)


def publish(generation: Generation, *, on_commit: bool = True) -> None:
    payload = event_payload(generation)
    if on_commit:
        events.send_on_commit(generation.owner_id, events.GENERATION_UPDATE, payload)
    else:
        events.send_to_user(generation.owner_id, events.GENERATION_UPDATE, payload)
