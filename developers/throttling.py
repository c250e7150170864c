"""The per-token request throttle; the per-user ones live in core.throttle, where the pages use them too."""

from __future__ import annotations

from typing import Any

from rest_framework import throttling

from core.throttle import FailOpenMixin
from developers.models import ApiToken


class TokenRateThrottle(FailOpenMixin, throttling.SimpleRateThrottle):
    """Requests per API token (scope `token`), so one leaked or runaway key cannot use up its user's budget."""

    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
