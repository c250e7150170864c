"""Request throttles that count in Redis atomically and fail open without it, for DRF views and plain ones alike.

DRF's own throttles read the history, then write it back: two round trips per throttle, and two requests at once
both pass on the same count. These book each request in the same Lua sliding window the provider's rate limiter
uses, so the check and the booking are one atomic step. An outage of the counter is not the client's fault:
without Redis every request is let through.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.ratelimit import Limits, RateLimiter
from core.redis import redis_client

log = logging.getLogger("core")
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_for(scope: str) -> str | None:
    """The rate of a DRF throttle scope, read at request time so settings overrides reach running code."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    return str(rate) if rate else None


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' as (600, 60), the way DRF reads a rate."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[:1]]


def take(key: str, rate: str | None) -> float | None:
    """Book one request under `key` at `rate`: None if it may go now, else the seconds until it may."""
    if not rate:
        return None
    count, period = parse_rate(rate)
    limiter = RateLimiter(redis_client(), key, Limits(rpm=count, ipm=0), window_s=period)
    try:
        permit = limiter.acquire()
    except redis.RedisError:
        log.warning("throttle %s skipped: Redis is unavailable", key)
        return None
    return None if permit.granted else max(permit.wait_s, 1.0)


def work_key(user_id: Any) -> str:
    """Where a user's free work (cache hits, cancels, replays) and creates are counted, by API and pages alike."""
    return f"throttle_work_{user_id}"


def user_key(user_id: Any) -> str:
    """The user's general request budget: DRF's `user` scope (UserRateThrottle's key), shared with the pages."""
    return f"throttle_user_{user_id}"


class FailOpenMixin:
    """A DRF throttle booked through `take` (atomic, shared by every process, open while Redis is down)."""

    scope: str
    rate: str | None

    def get_rate(self) -> str | None:
        return rate_for(self.scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = self.get_rate()
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.rate is None or key is None:
            return True
        self._wait_s = take(key, self.rate)
        return self._wait_s is None

    def wait(self) -> float | None:
        return getattr(self, "_wait_s", None)


class UserRateThrottle(FailOpenMixin, throttling.UserRateThrottle):
    """Requests per signed-in user, however they authenticate (scope `user`)."""

    scope = "user"


class WorkRateThrottle(FailOpenMixin, throttling.SimpleRateThrottle):
    """Creates, cancels and replays per user (scope `work`): work that costs us even when it is free to the user."""

    scope = "work"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return work_key(request.user.pk)
