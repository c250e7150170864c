"""A worker's hold on a job: claimed with a lease, renewed while it runs, given back or taken back.

Every write here is conditional on the lease the caller holds, so a worker can only change a job it still
owns, never one the sweeper handed to another.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, Now

from core.counters import record_call
from generation import events
from generation.finish import held_by
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.provider.limits import limits_for
from generation.queue import messages, waiting

log = logging.getLogger("generation")
Status = Generation.Status
Stage = Generation.Stage


def claim(generation_id: str, owner: str) -> Generation | None:
    """Take the job for this worker, or None if it is not ours to run (duplicate, cancelled, too early, busy)."""
    messages.picked_up(generation_id)
    # Times are the database's (`Now()`), never this host's clock, which may run seconds ahead or behind.
    generation = (
        Generation.objects.filter(pk=generation_id)
        .annotate(db_now=Now())
        .select_related("owner__account__tier")
        .first()
    )
    if generation is None or generation.status != Status.QUEUED:
        return None
    early = (generation.not_before - generation.db_now).total_seconds() if generation.not_before else 0
    if early > 1:
        messages.dispatch_later(generation.pk, early)
        return None
    stood_in_line = generation.started_at is not None
    cap = generation.owner.account.tier.max_in_flight
    with transaction.atomic():
        # Count and claim as one step per user: two workers that both counted cap - 1 would otherwise both claim.
        one_claim_at_a_time(generation.owner_id)
        at_cap = running_jobs(generation.owner_id) >= cap
        claimed = 0
        if not at_cap:
            claimed = Generation.objects.filter(pk=generation_id, status=Status.QUEUED).update(
                status=Status.RUNNING,
                lease_owner=owner,
                lease_expires_at=lease_from_now(),
                started_at=Coalesce("started_at", Now()),
                not_before=None,
            )
    if at_cap:
        # Fairness: one user's backlog waits its turn instead of filling every worker slot.
        # Only while it is still queued: another worker may have claimed it since it was read.
        defer(
            generation,
            seconds=settings.IN_FLIGHT_RETRY_S,
            stage=Stage.QUEUED,
            reason="user at in-flight cap",
            expect=Q(status=Status.QUEUED),
        )
        return None
    if claimed != 1:
        return None
    generation.refresh_from_db()
    generation.stood_in_line = stood_in_line
    log.info("generation claimed gen=%s worker=%s attempt=%s", generation.pk, owner, generation.attempts + 1)
    return generation


# The advisory-lock key space for claims (the second key is the user's id): any fixed number no other lock uses.
CLAIM_LOCKS = 0x1A1C


def one_claim_at_a_time(owner_id: int) -> None:
    """Make other workers wait, until this transaction ends, to claim a job of this user.

    PostgreSQL: a transaction-level advisory lock, shared by every worker host and held by no other code, so it
    cannot deadlock with the row locks billing takes. SQLite (`make run` on one host) needs nothing more: its
    transactions are IMMEDIATE (settings), so they already run one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_LOCKS, owner_id])


def running_jobs(owner_id: int) -> int:
    return Generation.objects.filter(owner_id=owner_id, status=Status.RUNNING).count()


def lease_from_now() -> CombinedExpression:
    return Now() + timedelta(seconds=settings.GENERATION_LEASE_S)


def past_deadline(generation: Generation, within_s: float = 0.0) -> bool:
    """Whether the job's deadline passes within `within_s` seconds, by the database's clock."""
    cutoff = Now() + timedelta(seconds=within_s)
    return Generation.objects.filter(pk=generation.pk, deadline_at__lte=cutoff).exists()


def renew_lease(generation: Generation, owner: str) -> bool:
    """Extend the worker's lease; False if the job was taken away (cancelled, failed past its deadline)."""
    return (
        Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(
            lease_expires_at=lease_from_now()
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
    expect: Q | None = None,
    parked: bool = False,
) -> bool:
    """Put the job back in the queue to run after `seconds`, without failing it or burning an attempt.

    A worker passes `owner`: it can only give back a job it still holds, never one the sweeper handed to another;
    others pass `expect`, the state they saw (see finish.held_by). A parked job waits in the dispatcher's waiting
    room instead of as a delayed message (generation/queue/waiting.py).
    """
    rows = held_by(generation, owner, expect)
    with transaction.atomic():
        moved = rows.update(
            status=Status.QUEUED,
            stage=stage,
            not_before=Now() + timedelta(seconds=seconds),
            lease_owner="",
            lease_expires_at=None,
            dispatched_at=Now() if parked else F("dispatched_at"),
        )
        if moved != 1:
            return False
        generation.refresh_from_db()
        if parked:
            transaction.on_commit(lambda: park_now(generation, seconds))
        else:
            messages.dispatch_later(generation.pk, seconds)
        events.publish(generation)
    log.info("generation deferred gen=%s stage=%s wait_s=%.1f reason=%s", generation.pk, stage, seconds, reason)
    return True


def park(generation: Generation, *, seconds: float, reason: str, owner: str) -> bool:
    """Wait for a rate-limit slot in the dispatcher's waiting room: no message, no worker slot, no attempt."""
    return defer(generation, seconds=seconds, stage=Stage.WAITING, reason=reason, owner=owner, parked=True)


def park_now(generation: Generation, seconds: float) -> None:
    """Park the job. One that stood in line before takes its place again, by when it came in, rather than the back:
    otherwise every fault (a failed call, a booked slot that lapsed before the worker picked the job up) costs it
    the whole line's wait again."""
    try:
        waiting.park(
            generation.pk,
            priority=generation.priority,
            images=generation.n,
            queue=generation.queue,
            delay_s=seconds,
            user_id=generation.owner_id,
            pace_s=slot_interval_s(generation.n),
            slow=generation.lane == Generation.Lane.SLOW,
            place=generation.created_at.timestamp() if generation.stood_in_line or generation.attempts else 0.0,
        )
    except Exception:
        # Without Redis it cannot wait there; a delayed message (or, failing that, the sweeper) brings it back.
        log.warning("could not park gen=%s; dispatching instead", generation.pk, exc_info=True)
        messages.dispatch(generation.pk, countdown=max(seconds, 0))


def slot_interval_s(images: int) -> float:
    """How far apart the primary provider's limits space calls of `images` images (0 when it has none)."""
    primary = targets()[0]  # the waiting room paces users at the primary's rate; fallbacks only add slots
    limits = limits_for(primary.provider, primary.model)
    per_window = [limit / cost for limit, cost in ((limits.rpm, 1), (limits.ipm, images)) if limit and cost]
    window_s = settings.RATE_LIMIT_WINDOW_S + settings.RATE_LIMIT_SAFETY_S
    return window_s / min(per_window) if per_window else 0.0


def reclaim(generation: Generation, owner: str) -> bool:
    """Take back a job whose lease lapsed while its call was in flight, if no other worker has claimed it since.

    The provider already did (and billed) the work: keeping the result beats running the job a second time.
    """
    taken = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(
        status=Status.RUNNING,
        lease_owner=owner,
        lease_expires_at=lease_from_now(),
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
        events.publish(generation, on_commit=False)
    return updated == 1


def set_progress(generation: Generation, owner: str, progress: int, *, persist: bool) -> None:
    """Move the bar; the database is written only every few ticks, the event goes out every tick."""
    generation.progress = progress
    if persist:
        Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, lease_owner=owner).update(progress=progress)
    events.publish(generation, on_commit=False)


def start_call(generation: Generation, provider: str, model: str, owner: str | None = None) -> ProviderCall | None:
    """Record the provider call before it is made, so calls upstream always equal calls recorded.

    Only while the job is still running, and still `owner`'s: None (and no call may be made) if it was cancelled
    meanwhile, or taken over because the lease lapsed while this worker was held up before its call (a photo read
    from a stalled S3): two workers would pay for one job. The lease is renewed in the same update, so the call
    starts with a whole lease ahead of it. The update waits for a cancel that holds the job's row, and a cancel
    that comes after it sees the call and is refused.
    """
    mine = Q(lease_owner=owner) if owner is not None else Q()
    renewed = {"lease_expires_at": lease_from_now()} if owner is not None else {}
    with transaction.atomic():
        recorded = Generation.objects.filter(mine, pk=generation.pk, status=Status.RUNNING).update(
            attempts=F("attempts") + 1, provider=provider, model=model, **renewed
        )
        if not recorded:
            return None
        generation.refresh_from_db(fields=["attempts", "provider", "model"])
        call = ProviderCall.objects.create(
            generation=generation, attempt=generation.attempts, provider=provider, model=model
        )
    log.info("provider call start gen=%s attempt=%s provider=%s model=%s", generation.pk, call.attempt, provider, model)
    return call


def resumable_call(generation: Generation) -> ProviderCall | None:
    """The job's last call if it left provider work to poll (predictions recorded, its worker lost), else None."""
    call = generation.calls.order_by("-attempt").first()
    if call is None or not call.prediction_ids:
        return None
    if call.outcome == ProviderCall.Outcome.IN_FLIGHT or (
        call.outcome == ProviderCall.Outcome.UNKNOWN and call.error_code == "worker_lost"
    ):
        return call
    return None


def resume_call(call: ProviderCall) -> bool:
    """Take the call back in flight to poll its predictions again; False if someone else did first."""
    taken = ProviderCall.objects.filter(
        pk=call.pk, outcome__in=[ProviderCall.Outcome.IN_FLIGHT, ProviderCall.Outcome.UNKNOWN]
    ).update(outcome=ProviderCall.Outcome.IN_FLIGHT, error_code="")
    if taken:
        call.outcome, call.error_code = ProviderCall.Outcome.IN_FLIGHT, ""
        log.info(
            "provider call resumed gen=%s attempt=%s ids=%s", call.generation_id, call.attempt, call.prediction_ids
        )
    return taken == 1


def note_predictions(call: ProviderCall, ids: list[str]) -> None:
    """Record the provider's job ids the moment they exist, before any waiting."""
    ProviderCall.objects.filter(pk=call.pk).update(prediction_ids=ids)
    call.prediction_ids = ids
    log.info("provider job recorded gen=%s attempt=%s ids=%s", call.generation_id, call.attempt, ",".join(ids))


def still_mine(generation: Generation, owner: str) -> str:
    """Whether the worker waiting on provider work still holds the job: "keep", "cancel" (it ended) or "leave"."""
    row = Generation.objects.filter(pk=generation.pk).values_list("status", "lease_owner").first()
    if row is None or row[0] in Generation.FINAL:
        return "cancel"
    if row == (Status.RUNNING, owner) or (row[0] == Status.QUEUED and reclaim(generation, owner)):
        return "keep"
    return "leave"


def finish_call(
    call: ProviderCall,
    *,
    outcome: str,
    status_code: int | None,
    error_code: str = "",
    latency_s: float,
    cost: Decimal = Decimal("0"),
    request_id: str = "",
    usage: dict[str, object] | None = None,
) -> None:
    call.outcome, call.status_code, call.error_code = outcome, status_code, error_code[:60]
    call.latency_ms, call.cost_usd, call.provider_request_id = int(latency_s * 1000), cost, request_id[:100]
    call.usage = usage or {}
    fields = ["outcome", "status_code", "error_code", "latency_ms", "cost_usd", "provider_request_id", "usage"]
    call.save(update_fields=fields)
    record_call(outcome == ProviderCall.Outcome.SUCCESS)
    log.info(
        "provider call end gen=%s attempt=%s outcome=%s status=%s latency_ms=%s cost_usd=%s",
        call.generation_id,
        call.attempt,
        outcome,
        status_code,
        call.latency_ms,
        cost,
    )
