"""Run one generation on a worker: breaker, rate limit, one recorded provider call, then settle or retry.

What the provider returned is never bought twice: a paid result is kept, and stored and settled through
hiccups of the database or the storage, for as long as RESULT_KEEP_S allows. Nothing holds a database
connection while the call is in flight, so a worker's threads need far fewer connections than slots.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections, connection

from billing import pricing
from core.counters import record_limiter_wait
from core.ratelimit import Permit, RateLimiter, permit_from_message, wait_until
from core.redis import server_time
from generation import finish
from generation.estimates import expected_duration_s, record_duration
from generation.files import delete_files, store_images
from generation.models import Generation, ProviderCall
from generation.provider import families, quality
from generation.provider.client import Abandoned, Hooks, Result, Target, target_named, targets
from generation.provider.gates import breaker_for, limiter_for, next_open, pick_target, reach, release_booking
from generation.provider.retry import Failure, backoff_s
from generation.queue import waiting
from generation.runtime import leases
from generation.styles import build_prompt

log = logging.getLogger("generation")
Stage = Generation.Stage
RESULT_NOT_STORED = "Your redesign was made but could not be saved, so it is lost; you were not charged. Try again."
PHOTO_MISSING = "The photo of this room could not be found, so it could not be redesigned; you were not charged."


def best_effort(action: Callable[..., object], *args: object) -> None:
    """Shared bookkeeping in Redis must never cost a result the provider already returned."""
    try:
        action(*args)
    except redis.RedisError:
        log.warning("redis bookkeeping skipped: %s", getattr(action, "__qualname__", action), exc_info=True)


def run(generation_id: str, worker: str, booking: dict[str, object] | None = None) -> None:
    """Run one delivery of a job; `booking` is a rate-limit slot the dispatcher already reserved for it."""
    booked = permit_from_message(booking)
    generation = leases.claim(generation_id, worker)
    if generation is None:
        if booked is not None:
            best_effort(release_booking, *booked)
        return
    try:
        admit(generation, worker, booked)
    except redis.RedisError:
        # Without the shared limiter and breaker no call may go out; the job waits, it does not fail.
        log.warning("redis unavailable; job waits gen=%s", generation.pk)
        give_back(generation, worker, settings.REDIS_DOWN_RETRY_S, Stage.WAITING, "redis unavailable")
    except Exception:
        # Anything else before the call (a paid result is handled in `deliver`): the job tries again later, and a
        # half-open breaker's single probe is not left held by a call that was never made.
        log.exception("generation step failed before its call gen=%s; it will be retried", generation.pk)
        give_back(generation, worker, backoff_s(generation.attempts + 1), Stage.RETRYING, "error before the call")


def give_back(generation: Generation, worker: str, seconds: float, stage: str, reason: str) -> None:
    for target in targets():
        best_effort(breaker_for(target).release_probe, worker)
    try:
        leases.defer(generation, seconds=seconds, stage=stage, reason=reason, owner=worker)
    except Exception:
        log.warning("could not give back gen=%s; the sweeper takes it back when its lease lapses", generation.pk)


def admit(generation: Generation, worker: str, booked: tuple[str, Permit] | None = None) -> None:
    """Pass the deadline, the breaker and the rate limiter, then make the call; park the job if it must wait."""
    if leases.past_deadline(generation):
        if booked is not None:
            best_effort(release_booking, *booked)
        finish.expire(generation, owner=worker)
        return
    if resume(generation, worker, booked):
        return
    limit = job_reach(generation)
    pick = pick_target(worker, limit, failed_on=last_failed_target(generation))
    target = pick.target
    probes_elsewhere = pick.probing and target is not None and booked is not None and booked[0] != target.name
    if booked is not None and (target is None or not usable(booked[0], limit) or probes_elsewhere):
        # The breakers moved on since the slot was booked, or this job holds the probe of a target before the booked
        # one: only a call to it can bring traffic back there (failback), so the job goes and the slot is given back.
        best_effort(release_booking, *booked)
        booked = None
    elif booked is not None:
        target = target_named(booked[0]) or target  # the dispatcher may have booked a fallback that has room
    if target is None:
        leases.defer(generation, seconds=pick.wait_s, stage=Stage.WAITING, reason="breaker open", owner=worker)
        return
    limiter = limiter_for(target)
    permit = use_booking(limiter, booked)
    if permit is None:
        found = book_slot(generation, worker, target, limiter, limit, probing=pick.probing and target == pick.target)
        if found is None:
            return
        target, limiter, permit = found
    if permit.wait_s:
        record_limiter_wait(permit.wait_s)
        leases.set_stage(generation, worker, Stage.WAITING, generation.progress)
        time.sleep(permit.wait_s)
    call_provider(generation, target, worker, functools.partial(confirm_slot, limiter, permit))


def confirm_slot(limiter: RateLimiter, permit: Permit) -> bool:
    """Stamp the booked slot now; False if it lapsed meanwhile and the window has no room for it (nothing is added:
    what is left of the booking only makes the window look fuller until it expires). Without Redis the booking
    stands as it was: the request goes."""
    try:
        return limiter.confirm(permit)
    except redis.RedisError:
        log.warning("could not stamp the slot %s; the booking stands", limiter.name, exc_info=True)
        return True


def last_failed_target(generation: Generation) -> str:
    """The target (`provider:model`) of the job's last call if that call failed, else ""."""
    if not generation.attempts:
        return ""
    last = generation.calls.order_by("-attempt").values_list("provider", "model", "outcome").first()
    if last is None or last[2] == ProviderCall.Outcome.SUCCESS:
        return ""
    return f"{last[0]}:{last[1]}"


def job_reach(generation: Generation) -> int:
    """How far down the chain this job may go: its tier's fallback price cap keeps it off dearer fallbacks."""
    tier = generation.owner.account.tier
    return reach(tier.fallback_max_usd, generation.size, generation.quality, generation.n)


def usable(target_name: str, limit: int) -> bool:
    return target_name in [target.name for target in targets()[:limit]]


def resume(generation: Generation, worker: str, booked: tuple[str, Permit] | None) -> bool:
    """Poll the provider work an earlier run of this job left (its worker died waiting), instead of paying again."""
    call = leases.resumable_call(generation)
    target = target_named(f"{call.provider}:{call.model}") if call is not None else None
    if call is None or target is None or not leases.resume_call(call):
        return False
    if booked is not None:
        best_effort(release_booking, *booked)
    call_provider(generation, target, worker, resumed=call)
    return True


def use_booking(limiter: RateLimiter, booked: tuple[str, Permit] | None) -> Permit | None:
    """The slot the dispatcher booked, its wait measured on Redis's clock; None if there is none or it is gone."""
    if booked is None:
        return None
    permit = wait_until(booked[1], server_time())
    if permit is None:
        best_effort(limiter.release, booked[1])  # redelivered long after its slot: give it back and ask afresh
    return permit


def book_slot(
    generation: Generation, worker: str, target: Target, limiter: RateLimiter, limit: int, *, probing: bool = False
) -> tuple[Target, RateLimiter, Permit] | None:
    """A slot now or within RATE_LIMIT_MAX_WAIT_S, on the target or, if its limit is exhausted for longer than
    PROVIDER_FAILOVER_WAIT_S, on the next open target of the job's reach; otherwise the job parks (None).

    A job `probing` (it holds the target's half-open probe) goes first: the jobs parked ahead of it wait for the
    probe's answer, so queueing behind them would hand the probe back, again and again, for as long as they wait
    (an outage that never ends)."""
    slow = generation.lane == Generation.Lane.SLOW
    if not probing and waiting.waiting_ahead(generation.priority, settings.RATE_LIMIT_MAX_WAIT_S, slow=slow):
        # Jobs of this tier or a higher one (every job, for the slow lane) wait for the next slot: queue behind them.
        breaker_for(target).release_probe(worker)
        leases.park(generation, seconds=0, reason="others waiting first", owner=worker)
        return None
    # A slow-lane job takes only a slot that is free now, on its first target: it rides in the gaps.
    permit = limiter.acquire(generation.n, max_wait_s=0 if slow else settings.RATE_LIMIT_MAX_WAIT_S)
    if permit.granted:
        return target, limiter, permit
    wait = permit.wait_s
    failing_over = not slow and wait > settings.PROVIDER_FAILOVER_WAIT_S
    candidate = next_open(target, worker, limit) if failing_over else None
    while candidate is not None:
        other = limiter_for(candidate)
        permit = other.acquire(generation.n, max_wait_s=settings.RATE_LIMIT_MAX_WAIT_S)
        if permit.granted:
            breaker_for(target).release_probe(worker)
            log.info("failover gen=%s from=%s to=%s: rate limit full", generation.pk, target.name, candidate.name)
            return candidate, other, permit
        breaker_for(candidate).release_probe(worker)
        wait = min(wait, permit.wait_s)
        candidate = next_open(candidate, worker, limit) if permit.wait_s > settings.PROVIDER_FAILOVER_WAIT_S else None
    breaker_for(target).release_probe(worker)
    record_limiter_wait(wait)
    leases.park(generation, seconds=wait, reason="rate limit", owner=worker)
    return None


def call_provider(
    generation: Generation,
    target: Target,
    worker: str,
    leaving: Callable[[], bool] = lambda: True,
    *,
    resumed: ProviderCall | None = None,
) -> None:
    """Make the one recorded call (or go on with `resumed`). `leaving` checks the booked slot before the call is
    recorded (the job waits again if it says False: the slot lapsed and the window is full), and runs again as the
    request goes out on the wire (Hooks), which stamps the slot at that moment."""
    photo = read_photo(generation, target, worker)
    if photo is None:
        return
    if not leaving():
        wait_again(generation, target, worker)
        return
    prompt = build_prompt(generation.style, generation.room_type, generation.prompt)
    call = resumed or leases.start_call(generation, target.provider, target.model, owner=worker)
    if call is None:
        breaker_for(target).release_probe(worker)
        return  # cancelled, or taken over, before the call was sent
    hooks = Hooks(
        submitted=lambda ids: with_connection(leases.note_predictions, call, ids),
        wanted=lambda: with_connection(leases.still_mine, generation, worker),
        resume=list(call.prediction_ids),
        leaving=leaving,
    )
    started = time.monotonic()
    ticker = ProgressTicker(generation, worker, expected_duration_s(target.model))
    ticker.start()
    # The call takes seconds to minutes: give this thread's database connection back to the pool meanwhile.
    connection.close()
    try:
        result = families.redesign(
            target, photo, prompt, size=generation.size, quality=generation.quality, n=generation.n, hooks=hooks
        )
    except Abandoned as gone:
        ticker.stop()
        abandon(generation, call, target, worker, str(gone), time.monotonic() - started)
        return
    except Exception as exc:  # every failure is classified; none escapes unrecorded
        ticker.stop()
        handle_failure(generation, call, target, worker, families.classify(target, exc), time.monotonic() - started)
        return
    # Every provider's answer passes the same check; an asynchronous one is held to the size its model renders.
    expected = result.size if target.provider == "replicate" else generation.size
    if (broken := quality.check_images(result, photo, expected)) is not None:
        ticker.stop()  # a broken answer is a failed call: recorded, retried, never stored or charged
        handle_failure(generation, call, target, worker, broken, time.monotonic() - started)
        return
    ticker.hold()  # the bar waits at 90 while the result is stored; the lease is still renewed
    try:
        deliver(generation, call, target, worker, result, time.monotonic() - started, prompt)
    finally:
        ticker.stop()


def with_connection(action: Callable[..., Any], *args: object) -> Any:
    """A database step while the call is in flight: the connection goes back to the pool right after."""
    try:
        return action(*args)
    finally:
        connection.close()


def wait_again(generation: Generation, target: Target, worker: str) -> None:
    """The booked slot lapsed before the call (this worker stalled past a whole window) and the window is full: no
    call is recorded or sent, and the job waits in line for a new slot."""
    best_effort(breaker_for(target).release_probe, worker)
    log.warning("slot lapsed before the call gen=%s worker=%s: waiting again", generation.pk, worker)
    leases.park(generation, seconds=0, reason="rate-limit slot lapsed", owner=worker)


def abandon(generation: Generation, call: ProviderCall, target: Target, worker: str, how: str, elapsed: float) -> None:
    """The job left this worker while the provider worked: cancelled work is recorded; work taken over is left be."""
    best_effort(breaker_for(target).release_probe, worker)
    if how == "cancel":
        leases.finish_call(
            call, outcome=ProviderCall.Outcome.FATAL, status_code=None, error_code="cancelled", latency_s=elapsed
        )
    log.info(
        "provider work %s gen=%s worker=%s",
        "cancelled" if how == "cancel" else "left to its new worker",
        generation.pk,
        worker,
    )


def read_photo(generation: Generation, target: Target, worker: str) -> bytes | None:
    """The room's photo, or None (having failed or given back the job) if there is no call to make."""
    if not leases.set_stage(generation, worker, Stage.CALLING, 10):
        breaker_for(target).release_probe(worker)
        return None  # cancelled while waiting
    room = generation.room
    if room is None:
        breaker_for(target).release_probe(worker)
        finish.fail(
            generation, code="room_deleted", message="The room was deleted before its redesign started.", owner=worker
        )
        return None
    try:
        with room.photo.open("rb") as photo_file:
            return bytes(photo_file.read())
    except FileNotFoundError:
        breaker_for(target).release_probe(worker)
        log.error("room photo missing gen=%s name=%s", generation.pk, room.photo.name)
        finish.fail(generation, code="photo_missing", message=PHOTO_MISSING, owner=worker)
        return None


def deliver(
    generation: Generation,
    call: ProviderCall,
    target: Target,
    worker: str,
    result: Result,
    elapsed: float,
    prompt: str = "",
) -> None:
    """Record the paid call, then store and settle its result; a hiccup on the way never buys it a second time."""
    room = generation.room
    cost = pricing.charge(
        target.provider,
        target.model,
        result.size,
        result.quality,
        len(result.images),
        usage=result.usage,
        prompt=prompt,
        photo_size=(room.width, room.height) if room is not None and room.width else None,
    )
    best_effort(breaker_for(target).record, True, worker)
    record_duration(target.model, elapsed)
    names: list[str] = []
    delay, give_up_at = 0.2, time.monotonic() + settings.RESULT_KEEP_S
    while True:
        try:
            if call.outcome != ProviderCall.Outcome.SUCCESS:
                leases.finish_call(
                    call,
                    outcome=ProviderCall.Outcome.SUCCESS,
                    status_code=200,
                    latency_s=elapsed,
                    cost=cost,
                    request_id=result.request_id,
                    usage=result.usage.as_json(),
                )
            if not holds(generation, worker):
                log.info("result discarded gen=%s: cancelled, or taken over, during the call", generation.pk)
                delete_files(names)
                return
            names = names or store_images(generation, result.images)
            finish.succeed(generation, worker, image_names=names, cost=cost)
            return
        except Exception:
            if time.monotonic() + delay > give_up_at:
                give_up(generation, worker, names)
                return
            log.warning("storing a paid result failed gen=%s; retrying in %.1fs", generation.pk, delay, exc_info=True)
            close_old_connections()
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def give_up(generation: Generation, worker: str, names: list[str]) -> None:
    """Fail the job, uncharged, rather than let it run (and pay) again: its result could not be kept."""
    log.error("paid result lost gen=%s: not stored within RESULT_KEEP_S", generation.pk, exc_info=True)
    try:
        finish.fail(generation, code="result_not_stored", message=RESULT_NOT_STORED, owner=worker)
        delete_files(names)
    except Exception:
        log.exception("could not fail gen=%s either; the sweeper takes it back once its lease lapses", generation.pk)


def holds(generation: Generation, worker: str) -> bool:
    """Whether this worker still holds the job, taking it back if its lease lapsed but nobody else claimed it."""
    return leases.set_stage(generation, worker, Stage.STORING, 92) or (
        leases.reclaim(generation, worker) and leases.set_stage(generation, worker, Stage.STORING, 92)
    )


def handle_failure(
    generation: Generation, call: ProviderCall, target: Target, worker: str, failure: Failure, elapsed: float
) -> None:
    # A call that may have been billed upstream is booked at that target's hold, on our side, never on the user.
    cost = Decimal("0")
    if failure.outcome == "unknown":
        cost = pricing.hold(target.provider, target.model, generation.size, generation.quality, generation.n)
    leases.finish_call(
        call,
        outcome=failure.outcome,
        status_code=failure.status_code,
        error_code=failure.code,
        latency_s=elapsed,
        cost=cost,
    )
    if failure.status_code == 429 and failure.retry_after_s:
        best_effort(limiter_for(target).pause, failure.retry_after_s)
    # A rate limit or a rejected request still shows a provider that answers: only real faults count.
    best_effort(breaker_for(target).record, not failure.counts_against_breaker, worker)
    generation.refresh_from_db(fields=["attempts", "deadline_at", "status"])
    # Failed calls back off exponentially; a 429 says "not now", not "broken", and only its retry-after counts.
    failed = generation.calls.exclude(status_code=429).count()
    delay = backoff_s(max(failed, 1), failure.retry_after_s)
    # Only a call that may have been billed (its outcome unknown) uses up an attempt: anything the provider
    # answered without doing the work is retried for as long as the deadline allows.
    unknown = generation.calls.filter(outcome=ProviderCall.Outcome.UNKNOWN).count()
    if failure.retryable and unknown < settings.GENERATION_MAX_ATTEMPTS:
        if leases.past_deadline(generation, within_s=delay):
            # What stopped the job is its deadline; the provider's last answer (a 429 above all) is ours to absorb.
            finish.expire(generation, owner=worker)
        else:
            leases.defer(generation, seconds=delay, stage=Stage.RETRYING, reason=failure.code, owner=worker)
        return
    message = failure.message if not failure.retryable else f"{failure.message} We tried {generation.attempts} times."
    finish.fail(generation, code=failure.code, message=f"{message} You were not charged.", owner=worker)


class ProgressTicker:
    """Moves the progress bar while the provider call is in flight and keeps the worker's lease alive.

    Progress follows 1 - exp(-t/expected) from 10 to 90: it moves every tick, slows as the call runs
    long, and never reaches the end before the images are stored. Once the call is back (`hold`), it only
    renews the lease, for as long as the result takes to store.
    """

    def __init__(self, generation: Generation, worker: str, expected_s: float) -> None:
        self.generation = generation
        self.worker = worker
        self.expected_s = max(expected_s, 0.5)
        self._moving = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{generation.pk}", daemon=True)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def hold(self) -> None:
        self._moving = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def progress_at(self, elapsed: float) -> int:
        return 10 + int(80 * (1 - math.exp(-elapsed / self.expected_s)))

    def _run(self) -> None:
        tick = settings.PROGRESS_TICK_S
        last, ticks, renewed = self.generation.progress, 0, True
        while not self._stop.wait(tick):
            ticks += 1
            value = self.progress_at(time.monotonic() - self._started)
            # Renew every fifth tick, and on every tick after a failed renewal until one succeeds.
            persist = ticks % 5 == 0 or not renewed
            try:
                if persist:
                    renewed = leases.renew_lease(self.generation, self.worker) or leases.reclaim(
                        self.generation, self.worker
                    )
                    if not renewed and self._is_final():
                        return  # cancelled, or failed past its deadline: nothing left to keep alive
                if self._moving and value != last:
                    leases.set_progress(self.generation, self.worker, value, persist=persist and renewed)
                    last = value
            except Exception:
                # A database or Redis hiccup must not let the lease lapse: the call is paid for either way.
                renewed = False
                log.warning("progress tick failed gen=%s; retrying", self.generation.pk, exc_info=True)
            finally:
                if persist:
                    connection.close()  # back to the pool between renewals: a ticker holds none while it waits

    def _is_final(self) -> bool:
        status = Generation.objects.filter(pk=self.generation.pk).values_list("status", flat=True).first()
        return status not in (Generation.Status.QUEUED, Generation.Status.RUNNING)
