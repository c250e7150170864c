"""What stands between a job and the provider: each target's shared breaker and its global rate limiter."""

from __future__ import annotations

import math

from django.conf import settings

from core.breaker import BreakerPolicy, CircuitBreaker
from core.ratelimit import Permit, RateLimiter
from core.redis import redis_client
from generation.provider.client import Target, targets
from generation.provider.limits import limits_for


def limiter_for(target: Target) -> RateLimiter:
    return RateLimiter(
        redis_client(),
        target.name,
        limits_for(target.provider, target.model),
        window_s=settings.RATE_LIMIT_WINDOW_S + settings.RATE_LIMIT_SAFETY_S,
    )


def breaker_for(target: Target) -> CircuitBreaker:
    policy = BreakerPolicy(
        window_s=settings.BREAKER_WINDOW_S,
        min_calls=settings.BREAKER_MIN_CALLS,
        failure_rate=settings.BREAKER_FAILURE_RATE,
        open_s=settings.BREAKER_OPEN_S,
        probe_lease_s=settings.OPENAI_TIMEOUT_S + 30,  # one call: its holder records it as soon as it returns
        consecutive_failures=settings.BREAKER_CONSECUTIVE_FAILURES,
    )
    return CircuitBreaker(redis_client(), target.name, policy)


def release_booking(target_name: str, permit: Permit) -> None:
    """Give back a slot booked on `target_name` that will not be used."""
    for target in targets():
        if target.name == target_name:
            limiter_for(target).release(permit)


def open_target() -> Target | None:
    """The first target whose breaker is closed (read-only: takes no probe), or None while all are open."""
    for target in targets():
        if breaker_for(target).state() == "closed":
            return target
    return None


def pick_target(worker: str) -> tuple[Target | None, float]:
    """The first target whose breaker lets a call through, or None and how long until one might."""
    wait = math.inf
    for target in targets():
        decision = breaker_for(target).allow(worker)
        if decision.allowed:
            return target, 0.0
        wait = min(wait, decision.wait_s)
    return None, max(min(wait, 30.0), settings.BREAKER_MIN_WAIT_S)
