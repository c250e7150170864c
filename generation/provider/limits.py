"""The rate limits in force for a provider's model: the admin's ProviderLimit row, else the family's settings
(PROVIDER_RPM/IPM for OpenAI, REPLICATE_RPM/IPM for Replicate).

Read through a short per-process cache, so an operator's change reaches every worker within REFRESH_S
seconds without a deploy, and the hot path does not ask the database on every admission.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import DatabaseError

from core.ratelimit import Limits
from generation.models import ProviderLimit

REFRESH_S = 5.0
_cache: dict[tuple[str, str], tuple[float, tuple[int, int] | None]] = {}
_lock = threading.Lock()


def limits_for(provider: str, model: str) -> Limits:
    row = admin_row(provider, model)
    if row is not None:
        return Limits(*row)
    if provider == "replicate":
        return Limits(settings.REPLICATE_RPM, settings.REPLICATE_IPM)
    return Limits(settings.PROVIDER_RPM, settings.PROVIDER_IPM)


def admin_row(provider: str, model: str) -> tuple[int, int] | None:
    """The admin's (rpm, ipm) for this model, or None; looked up at most every REFRESH_S per process."""
    key = (provider, model)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
    try:
        row = ProviderLimit.objects.filter(provider=provider, model=model).values_list("rpm", "ipm").first()
    except DatabaseError:
        row = None  # keep going on the configured defaults; the cache entry below is short-lived anyway
    with _lock:
        _cache[key] = (now + REFRESH_S, row)
    return row


def forget() -> None:
    """Drop cached limits (tests, and the admin right after a save in this process)."""
    with _lock:
        _cache.clear()
