"""Queue position and estimated wait, from live queue depth, worker capacity, the rate limit and measured durations."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Now

from core.counters import failed_share
from core.redis import redis_client
from generation import capacity
from generation.models import Generation
from generation.provider.client import targets
from generation.provider.limits import limits_for

log = logging.getLogger(__name__)
DURATION_KEY = "gen:duration_ewma:{model}"
EWMA_WEIGHT = 0.2


def record_duration(model: str, seconds: float) -> None:
    """Fold one measured provider-call duration into the running average used for progress and waits."""
    key = DURATION_KEY.format(model=model)
    try:
        current = redis_client().get(key)
        value = seconds if current is None else (1 - EWMA_WEIGHT) * float(current) + EWMA_WEIGHT * seconds
        redis_client().set(key, f"{value:.3f}", ex=7 * 86400)
    except Exception:
        log.debug("could not record duration", exc_info=True)


def expected_duration_s(model: str) -> float:
    try:
        value = redis_client().get(DURATION_KEY.format(model=model))
    except Exception:
        value = None
    return float(value) if value else settings.GENERATION_EXPECTED_S


SLOTS_TTL_S = 5.0  # workers come and go over tens of seconds; one SCAN per process every few seconds is plenty
_slots: tuple[float, int] = (0.0, 0)
_slots_lock = threading.Lock()


def worker_slots() -> int:
    """Generation slots across live workers (each worker advertises its concurrency with a short TTL)."""
    global _slots
    with _slots_lock:
        expires, slots = _slots
        if time.monotonic() < expires:
            return slots
        try:
            slots = sum(capacity.live_workers().values())
        except Exception:
            slots = 0
        if not slots:
            return settings.WORKER_CONCURRENCY  # nobody heard from yet: ask again next time
        _slots = (time.monotonic() + SLOTS_TTL_S, slots)
        return slots


def queue_snapshot(generation: Generation) -> tuple[int, int]:
    """(position, estimated wait in seconds) of a queued job, (0, 0) otherwise; computed once per state seen.

    The event published at creation and the 202 body describe the same moment: they share one computation.
    """
    if generation.status != Generation.Status.QUEUED:
        return 0, 0
    cached = generation.__dict__.get("_queue_snapshot")
    if cached is not None and cached[0] == snapshot_key(generation):
        return cached[1]
    position = position_of(generation)
    return remember_snapshot(generation, position, estimated_wait_s(position, generation.model))


def remember_snapshot(generation: Generation, position: int, wait_s: int) -> tuple[int, int]:
    """Keep a position already computed for this state of the job (creation computes it before the insert)."""
    generation.__dict__["_queue_snapshot"] = (snapshot_key(generation), (position, wait_s))
    return position, wait_s


def snapshot_key(generation: Generation) -> tuple[object, ...]:
    """The state a remembered snapshot belongs to; any change makes it stale."""
    return (generation.status, generation.priority, generation.progress, generation.stage)


def position_of(generation: Generation) -> int:
    """1-based place among queued jobs that will be served before or with this one."""
    if generation.status != Generation.Status.QUEUED:
        return 0
    ahead = Generation.objects.filter(status=Generation.Status.QUEUED).filter(
        Q(priority__gt=generation.priority) | Q(priority=generation.priority, created_at__lt=generation.created_at)
    )
    return ahead.count() + 1


@dataclass(frozen=True)
class Load:
    """The line a new job of one user and priority joins, read in one query."""

    yours: int  # the user's own queued and running jobs
    ahead: int  # queued standard jobs of this priority or higher: served first
    running: int
    arrivals: int  # standard jobs of a higher priority accepted in the last ADMISSION_ARRIVALS_WINDOW_S: they cut in
    waiting: int  # every queued standard job: all of them go before the slow lane
    slow: int  # queued slow-lane jobs
    standard_arrivals: int  # standard jobs of any priority accepted in that window: they all cut in to the slow lane


def load_for(user_id: object, priority: int) -> Load:
    since = Now() - timedelta(seconds=settings.ADMISSION_ARRIVALS_WINDOW_S)
    live = [Generation.Status.QUEUED, Generation.Status.RUNNING]
    queued = Q(status=Generation.Status.QUEUED)
    standard = Q(lane=Generation.Lane.STANDARD)
    arrived = Q(created_at__gte=since, cached=False) & standard
    counts = Generation.objects.filter(Q(status__in=live) | Q(created_at__gte=since)).aggregate(
        yours=Count("pk", filter=Q(owner_id=user_id, status__in=live)),
        ahead=Count("pk", filter=queued & standard & Q(priority__gte=priority)),
        running=Count("pk", filter=Q(status=Generation.Status.RUNNING)),
        arrivals=Count("pk", filter=arrived & Q(priority__gt=priority)),
        waiting=Count("pk", filter=queued & standard),
        slow=Count("pk", filter=queued & Q(lane=Generation.Lane.SLOW)),
        standard_arrivals=Count("pk", filter=arrived),
    )
    return Load(**counts)


# Never count on less than this share of the capacity: past it, the line barely moves, and the wait is long.
LEAST_SHARE = 0.1


def estimated_wait_s(
    position: int, model: str | None = None, *, running: int | None = None, cutting_in_per_s: float = 0.0
) -> int:
    """Seconds until this job's images are ready: the jobs ahead drained at the real pace, plus one call.

    The pace is the smaller of the workers' (slots / average call) and the provider's rate limit, less the share
    of calls that fail and are made again, less what jobs of a higher priority, arriving at `cutting_in_per_s`,
    take of it while this one waits. The jobs ahead are the queued ones before this one and the ones running now.
    """
    model = model or settings.OPENAI_IMAGE_MODEL
    duration = expected_duration_s(model)
    slots = worker_slots()
    if running is None:
        running = Generation.objects.filter(status=Generation.Status.RUNNING).count()
    # Running jobs are half done on average: they hold their slots for about half a call more.
    ahead = max(position - 1, 0) + running / 2
    left_to_us = max(1 - cutting_in_per_s * duration / slots, LEAST_SHARE)
    wait = duration * (1 + ahead / slots) / left_to_us
    pace = provider_pace()
    if pace:
        wait = max(wait, ahead / max(pace - cutting_in_per_s, pace * LEAST_SHARE) + duration)
    return max(round(wait), 1)


PACE_TTL_S = 5.0
_pace: tuple[float, float] = (0.0, 0.0)
_pace_lock = threading.Lock()


def provider_pace() -> float:
    """Calls per second the primary provider's limits let through and that succeed (0: no limit); cached briefly."""
    global _pace
    with _pace_lock:
        expires, pace = _pace
        if time.monotonic() < expires:
            return pace
    primary = targets()[0]
    limits = limits_for(primary.provider, primary.model)
    per_minute = min(x for x in (limits.rpm, limits.ipm, math.inf) if x)
    if per_minute == math.inf:
        pace = 0.0
    else:
        try:
            failing = min(failed_share(), 0.9)
        except Exception:
            failing = 0.0  # without Redis, assume calls succeed: the estimate is a little short, never absurd
        pace = per_minute / (settings.RATE_LIMIT_WINDOW_S + settings.RATE_LIMIT_SAFETY_S) * (1 - failing)
    with _pace_lock:
        _pace = (time.monotonic() + PACE_TTL_S, pace)
    return pace
