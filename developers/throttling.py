"""Per-user and per-token request throttles that count in the shared cache and fail open without it."""

from __future__ import annotations

import logging
from typing import Any

import redis
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.ratelimit import Limits, RateLimiter
from core.redis import redis_client
from developers.models import ApiToken

log = logging.getLogger("developers")


class FailOpenMixin:
    """Count in Redis atomically (one round trip, a sliding window), and let requests through when it is down.

    DRF's own throttles read the history, then write it back: two round trips per throttle, and two requests at
    once both pass on the same count. This books each request in the same Lua sliding window the provider's rate
    limiter uses, so the check and the booking are one atomic step. An outage of the counter is not the client's
    fault: without Redis every request is let through.
    """

    scope: str
    rate: str | None
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        # Read at request time (DRF binds the rates at import), so settings overrides reach running code.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate else None

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = self.get_rate()
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.rate is None or key is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)  # type: ignore[attr-defined]
        limiter = RateLimiter(redis_client(), key, Limits(rpm=self.num_requests, ipm=0), window_s=self.duration)
        try:
            permit = limiter.acquire()
        except redis.RedisError:
            log.warning("throttle %s skipped: Redis is unavailable", self.scope)
            return True
        self._wait_s = permit.wait_s
        return permit.granted

    def wait(self) -> float | None:
        return getattr(self, "_wait_s", None)


class UserRateThrottle(FailOpenMixin, throttling.UserRateThrottle):
    """Requests per signed-in user, however they authenticate (scope `user`)."""

    scope = "user"


class TokenRateThrottle(FailOpenMixin, throttling.SimpleRateThrottle):
    """Requests per API token (scope `token`), so one leaked or runaway key cannot use up its user's budget."""

    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
