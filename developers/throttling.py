"""Per-user and per-token request throttles that count in the shared cache and fail open without it."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import throttling
from rest_framework.settings import api_settings

from developers.models import ApiToken

log = logging.getLogger("developers")


class FailOpenMixin:
    """Let requests through when the cache (Redis) is down: an outage of the counter is not the client's fault."""

    scope: str

    def get_rate(self) -> str | None:
        # Read at request time (DRF binds the rates at import), so settings overrides reach running code.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate else None

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception:
            log.warning("throttle %s skipped: the cache is unavailable", self.scope)
            return True


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
