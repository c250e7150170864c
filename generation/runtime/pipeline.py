"""Run one generation on a worker: breaker, rate limit, one recorded provider call, then settle or retry."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import redis
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from billing import pricing
from core.counters import record_limiter_wait
from core.ratelimit import Permit, permit_from_message
from generation import finish
from generation.estimates import expected_duration_s, record_duration
from generation.files import store_images
from generation.models import Generation, ProviderCall
from generation.provider import client
from generation.provider.client import Target
from generation.provider.gates import breaker_for, limiter_for, pick_target, release_booking
from generation.provider.retry import Failure, backoff_s, classify
from generation.queue import waiting
from generation.runtime import leases
from generation.styles import build_prompt

log = logging.getLogger("generation")
Stage = Generation.Stage


def best_effort(action: Callable[..., object], *args: object) -> None:
    """Shared bookkeeping in Redis must never cost a result the provider already returned."""
    try:
        action(*args)
    except redis.RedisError:
        log.warning("redis bookkeeping skipped: %s", getattr(action, "__qualname__", action), exc_info=True)


def run(generation_id: str, worker: str, booking: dict[str, object] | None = None) -> None:
    """Run one delivery of a job; `booking` is a rate-limit slot the dispatcher already reserved for it."""
    booked = permit_from_message(booking)
    if booked is not None and not booked[1].granted:
        booked = None  # stale: its slot is long gone (see permit_from_message)
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
        leases.defer(
            generation,
            seconds=settings.REDIS_DOWN_RETRY_S,
            stage=Stage.WAITING,
            reason="redis unavailable",
            owner=worker,
        )


def admit(generation: Generation, worker: str, booked: tuple[str, Permit] | None = None) -> None:
    """Pass the deadline, the breaker and the rate limiter, then make the call; park the job if it must wait."""
    if timezone.now() >= generation.deadline_at:
        if booked is not None:
            best_effort(release_booking, *booked)
        finish.expire(generation, owner=worker)
        return
    target, breaker_wait = pick_target(worker)
    if booked is not None and (target is None or target.name != booked[0]):
        best_effort(release_booking, *booked)  # the breaker moved on since the slot was booked
        booked = None
    if target is None:
        leases.defer(generation, seconds=breaker_wait, stage=Stage.WAITING, reason="breaker open", owner=worker)
        return
    limiter = limiter_for(target)
    if booked is not None:
        permit = booked[1]
    elif waiting.waiting_ahead(generation.priority, settings.RATE_LIMIT_MAX_WAIT_S):
        # Jobs of this tier or a higher one are already waiting for the next slot: queue behind them.
        breaker_for(target).release_probe(worker)
        leases.park(generation, seconds=0, reason="others waiting first", owner=worker)
        return
    else:
        permit = limiter.acquire(generation.n, max_wait_s=settings.RATE_LIMIT_MAX_WAIT_S)
    if not permit.granted:
        breaker_for(target).release_probe(worker)
        record_limiter_wait(permit.wait_s)
        leases.park(generation, seconds=permit.wait_s, reason="rate limit", owner=worker)
        return
    if permit.wait_s:
        record_limiter_wait(permit.wait_s)
        leases.set_stage(generation, worker, Stage.WAITING, generation.progress)
        time.sleep(permit.wait_s)
    call_provider(generation, target, worker, lambda: best_effort(limiter.confirm, permit))


def call_provider(
    generation: Generation, target: Target, worker: str, leaving: Callable[[], None] = lambda: None
) -> None:
    """Make the one recorded call; `leaving` runs at the last moment before the request goes out."""
    if not leases.set_stage(generation, worker, Stage.CALLING, 10):
        breaker_for(target).release_probe(worker)
        return  # cancelled while waiting
    room = generation.room
    if room is None:
        breaker_for(target).release_probe(worker)
        finish.fail(
            generation, code="room_deleted", message="The room was deleted before its redesign started.", owner=worker
        )
        return
    with room.photo.open("rb") as photo_file:
        photo = photo_file.read()
    prompt = build_prompt(generation.style, generation.room_type, generation.prompt)
    call = leases.start_call(generation, target.provider, target.model)
    started = time.monotonic()
    ticker = ProgressTicker(generation, worker, expected_duration_s(target.model))
    ticker.start()
    leaving()
    try:
        result = client.edit_image(
            target, photo, prompt, size=generation.size, quality=generation.quality, n=generation.n
        )
    except Exception as exc:  # every failure is classified; none escapes unrecorded
        ticker.stop()
        handle_failure(generation, call, target, worker, classify(exc), time.monotonic() - started)
        return
    finally:
        ticker.stop()
    elapsed = time.monotonic() - started
    cost = pricing.actual(target.model, result.size, result.quality, len(result.images), provider=target.provider)
    leases.finish_call(
        call,
        outcome=ProviderCall.Outcome.SUCCESS,
        status_code=200,
        latency_s=elapsed,
        cost=cost,
        request_id=result.request_id,
    )
    best_effort(breaker_for(target).record, True, worker)
    record_duration(target.model, elapsed)
    storing = leases.set_stage(generation, worker, Stage.STORING, 92) or (
        leases.reclaim(generation, worker) and leases.set_stage(generation, worker, Stage.STORING, 92)
    )
    if not storing:
        log.info("result discarded gen=%s: cancelled, or taken over, during the call", generation.pk)
        return
    names = store_images(generation, result.images)
    finish.succeed(generation, worker, image_names=names, cost=cost)


def handle_failure(
    generation: Generation, call: ProviderCall, target: Target, worker: str, failure: Failure, elapsed: float
) -> None:
    # A call that may have been billed upstream is booked at its estimate, on our side, never on the user.
    cost = generation.estimated_cost_usd if failure.outcome == "unknown" else Decimal("0")
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
    # A 429 says "not now", not "broken": it is recorded like every call but only the deadline bounds it.
    failed = generation.calls.exclude(status_code=429).count()
    delay = backoff_s(max(failed, 1), failure.retry_after_s)
    out_of_time = timezone.now().timestamp() + delay >= generation.deadline_at.timestamp()
    if failure.retryable and failed < settings.GENERATION_MAX_ATTEMPTS and not out_of_time:
        leases.defer(generation, seconds=delay, stage=Stage.RETRYING, reason=failure.code, owner=worker)
        return
    if failure.retryable and out_of_time:
        # What stopped the job is its deadline; the provider's last answer (a 429 above all) is ours to absorb.
        finish.expire(generation, owner=worker)
        return
    message = failure.message if not failure.retryable else f"{failure.message} We tried {generation.attempts} times."
    finish.fail(generation, code=failure.code, message=f"{message} You were not charged.", owner=worker)


class ProgressTicker:
    """Moves the progress bar while the provider call is in flight and keeps the worker's lease alive.

    Progress follows 1 - exp(-t/expected) from 10 to 90: it moves every tick, slows as the call runs
    long, and never reaches the end before the images are stored.
    """

    def __init__(self, generation: Generation, worker: str, expected_s: float) -> None:
        self.generation = generation
        self.worker = worker
        self.expected_s = max(expected_s, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{generation.pk}", daemon=True)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def progress_at(self, elapsed: float) -> int:
        return 10 + int(80 * (1 - math.exp(-elapsed / self.expected_s)))

    def _run(self) -> None:
        tick = settings.PROGRESS_TICK_S
        last, ticks, renewed = self.generation.progress, 0, True
        try:
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
                    if value != last:
                        leases.set_progress(self.generation, self.worker, value, persist=persist and renewed)
                        last = value
                except Exception:
                    # A database or Redis hiccup must not let the lease lapse: the call is paid for either way.
                    renewed = False
                    log.warning("progress tick failed gen=%s; retrying", self.generation.pk, exc_info=True)
                    close_old_connections()
        finally:
            close_old_connections()

    def _is_final(self) -> bool:
        status = Generation.objects.filter(pk=self.generation.pk).values_list("status", flat=True).first()
        return status not in (Generation.Status.QUEUED, Generation.Status.RUNNING)
