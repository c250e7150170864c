"""What stands between a job and a provider: each target's shared breaker and global rate limiter, and the chain.

Failover: a job goes to the first target of the chain it may use (its tier's fallback cap) whose breaker lets it
through; and, while the rate limit of an open target would keep it waiting longer than PROVIDER_FAILOVER_WAIT_S,
to the next open target with a slot. Failback needs nothing more: once the primary's half-open probe succeeds its
breaker closes, and the next job picks it again.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from django.conf import settings

from billing import pricing
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
    timeout = settings.REPLICATE_TIMEOUT_S if target.provider == "replicate" else settings.OPENAI_TIMEOUT_S
    policy = BreakerPolicy(
        window_s=settings.BREAKER_WINDOW_S,
        min_calls=settings.BREAKER_MIN_CALLS,
        failure_rate=settings.BREAKER_FAILURE_RATE,
        open_s=settings.BREAKER_OPEN_S,
        probe_lease_s=timeout + 30,  # one call: its holder records it as soon as it returns
        consecutive_failures=settings.BREAKER_CONSECUTIVE_FAILURES,
    )
    return CircuitBreaker(redis_client(), target.name, policy)


def release_booking(target_name: str, permit: Permit) -> None:
    """Give back a slot booked on `target_name` that will not be used."""
    for target in targets():
        if target.name == target_name:
            limiter_for(target).release(permit)


def reach(fallback_max_usd: object, size: str, quality: str, n: int) -> int:
    """How many targets of the chain a job may use: the primary, and each fallback up to the tier's price cap."""
    chain = targets()
    if fallback_max_usd is None:
        return len(chain)
    allowed = 1
    for target in chain[1:]:
        per_image = pricing.hold(target.provider, target.model, size, quality, 1)
        if per_image > pricing.Decimal(str(fallback_max_usd)):
            break
        allowed += 1
    return allowed


def open_targets(limit: int | None = None) -> list[Target]:
    """The targets whose breaker is closed (read-only: takes no probe), in the chain's order."""
    return [target for target in targets()[:limit] if breaker_for(target).state() == "closed"]


def open_target() -> Target | None:
    """The first target whose breaker is closed, or None while all are open."""
    found = open_targets()
    return found[0] if found else None


class Pick(NamedTuple):
    target: Target | None  # None while no breaker lets a call through
    wait_s: float  # how long to wait then
    probing: bool = False  # the target is half-open and this caller holds its single probe


def pick_target(worker: str, limit: int | None = None, failed_on: str = "") -> Pick:
    """The first target (of the first `limit`) whose breaker lets a call through, or None and how long to wait.

    A job whose last call failed on `failed_on` while its breaker is not closed asks that target last: it takes the
    probe there only if nothing else lets it through, so it is not the one job that probes a dead provider again and
    again (fresh jobs take the probes, and traffic still comes back with the first one that succeeds)."""
    wait = math.inf
    chain = targets()[:limit]
    shunned = [t for t in chain if t.name == failed_on and breaker_for(t).state() != "closed"]
    for target in [t for t in chain if t not in shunned] + shunned:
        decision = breaker_for(target).allow(worker)
        if decision.allowed:
            return Pick(target, 0.0, probing=decision.state == "probe")
        wait = min(wait, decision.wait_s)
    # Half-open, `wait_s` is what is left of the probe's lease (a whole call's timeout and more), yet its answer may
    # come any moment: look again within one open period, as a job does while the breaker is open.
    return Pick(None, max(min(wait, settings.BREAKER_OPEN_S), settings.BREAKER_MIN_WAIT_S))


def next_open(after: Target, worker: str, limit: int | None = None) -> Target | None:
    """The next target after `after` (of the first `limit`) whose breaker lets a call through."""
    chain = targets()[:limit]
    names = [target.name for target in chain]
    if after.name not in names:
        return None
    for target in chain[names.index(after.name) + 1 :]:
        if breaker_for(target).allow(worker).allowed:
            return target
    return None
