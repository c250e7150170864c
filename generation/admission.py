"""Whether a new job is let in, and into which lane: what it would wait, against how long we hold a request.

A job that could not finish before its deadline is refused at once (503, nothing charged) rather than failed
after it. Past that point a caller may ask for the slow lane instead (`accept_slow`): the job rides in the gaps
the standard jobs leave, behind every one of them however long it has waited, with a deadline of hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.api import ApiError
from generation.estimates import Load, estimated_wait_s
from generation.models import Generation

log = logging.getLogger("generation")
Lane = Generation.Lane


@dataclass(frozen=True)
class Admission:
    lane: str
    position: int
    wait_s: int
    deadline_s: float


def admit(tier: Any, model: str, load: Load, *, accept_slow: bool = False) -> Admission:
    """Let the job into the standard lane if it can finish in time, else the slow lane if asked; else 503.

    The wait counts the jobs ahead, the pace the provider really allows (failed calls are made again), and the
    jobs that keep arriving and will cut in: those of higher tiers for the standard lane, every standard job for
    the slow one. Paid tiers stand ahead, so they are refused last.
    """
    position = load.ahead + 1
    cutting_in = load.arrivals / settings.ADMISSION_ARRIVALS_WINDOW_S
    wait_s = estimated_wait_s(position, model, running=load.running, cutting_in_per_s=cutting_in)
    limit = settings.ADMISSION_MAX_WAIT_S
    if not limit or wait_s <= limit:
        return Admission(Lane.STANDARD, position, wait_s, settings.GENERATION_DEADLINE_S)
    slow_position = load.waiting + load.slow + 1
    slow_cutting_in = load.standard_arrivals / settings.ADMISSION_ARRIVALS_WINDOW_S
    slow_wait_s = estimated_wait_s(slow_position, model, running=load.running, cutting_in_per_s=slow_cutting_in)
    slow_fits = slow_wait_s <= settings.SLOW_LANE_MAX_WAIT_S
    if accept_slow and slow_fits:
        log.info("generation admitted to the slow lane tier=%s position=%s wait_s=%s", tier.slug, slow_position, wait_s)
        return Admission(Lane.SLOW, slow_position, slow_wait_s, settings.SLOW_LANE_DEADLINE_S)
    raise at_capacity(tier, wait_s, limit, slow_wait_s if slow_fits else None)


def at_capacity(tier: Any, wait_s: int, limit: int, slow_wait_s: int | None) -> ApiError:
    minutes = max(round(wait_s / 60), 1)
    message = (
        f"We are at capacity: a new redesign would wait about {minutes} min, longer than we hold a request. "
        "Please try again in a few minutes; nothing was charged."
    )
    offer: dict[str, Any] = {}
    if slow_wait_s is not None:
        message += f" Or let it wait in the slow lane, ready in about {describe(slow_wait_s)}."
        offer["slow_lane"] = {"estimated_wait_s": slow_wait_s, "deadline_s": int(settings.SLOW_LANE_DEADLINE_S)}
    error = ApiError("at_capacity", message, 503, **offer)
    error.headers["Retry-After"] = str(min(max(round(wait_s - limit), 1), 3600))
    log.warning("generation refused: at capacity tier=%s wait_s=%s slow_lane=%s", tier.slug, wait_s, slow_wait_s)
    return error


def describe(seconds: float) -> str:
    """A wait in words: "40 min", "2 h", "3 h 20 min"."""
    minutes = max(round(seconds / 60), 1)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")
