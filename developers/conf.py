"""Webhook knobs, read when used: a Django setting of the same name wins over the environment.

The defaults suit production; tests shorten them through the environment of the processes they start.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import envfloat, envlist

# Standard Webhooks' suggested schedule: retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (about 28 h).
DEFAULT_RETRY_SCHEDULE_S = "5,300,1800,7200,18000,36000,36000"


def _number(name: str, default: float, minimum: float = 0) -> float:
    value: Any = getattr(settings, name, None)
    return float(value) if value is not None else envfloat(name, default, minimum=minimum)


def retry_schedule() -> list[float]:
    """Seconds to wait before each retry; its length is the number of retries."""
    value: Any = getattr(settings, "WEBHOOK_RETRY_SCHEDULE_S", None)
    raw = (
        [str(v) for v in value] if value is not None else envlist("WEBHOOK_RETRY_SCHEDULE_S", DEFAULT_RETRY_SCHEDULE_S)
    )
    try:
        schedule = [float(item) for item in raw]
    except ValueError as exc:
        raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE_S must be comma-separated seconds") from exc
    if any(delay < 0 for delay in schedule):
        raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE_S must not be negative")
    return schedule


def send_timeout_s() -> float:
    """The most one attempt may take: connecting, sending and reading the answer together; a slower receiver is cut
    off (and the attempt counts as failed), so it cannot hold a webhook slot for long."""
    return _number("WEBHOOK_TIMEOUT_S", 5.0, minimum=0.1)


def resolve_timeout_s() -> float:
    return _number("WEBHOOK_RESOLVE_TIMEOUT_S", 3.0, minimum=0.1)


def disable_after_failures() -> int:
    """Failed attempts in a row after which (and `disable_after` later) an endpoint is switched off."""
    return int(_number("WEBHOOK_DISABLE_AFTER_FAILURES", 5, minimum=1))


def disable_after() -> timedelta:
    """How long an endpoint must have failed without a single success before it is switched off."""
    return timedelta(seconds=_number("WEBHOOK_DISABLE_AFTER_S", 3 * 3600.0))


def previous_secret_ttl() -> timedelta:
    """How long a rotated-out secret keeps signing, so receivers can switch over without losing events."""
    return timedelta(seconds=_number("WEBHOOK_PREVIOUS_SECRET_TTL_S", 86400.0))


def max_endpoints() -> int:
    return int(_number("WEBHOOK_MAX_ENDPOINTS", 10, minimum=1))


def log_retention() -> timedelta:
    return timedelta(days=_number("WEBHOOK_LOG_RETENTION_DAYS", 30, minimum=1))


def allowlist() -> set[tuple[str, int]]:
    """WEBHOOK_ALLOWLIST as (host, port) pairs: receivers that may resolve to private or loopback addresses."""
    pairs = set()
    for entry in settings.WEBHOOK_ALLOWLIST:
        host, sep, port = entry.strip().rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ImproperlyConfigured(f"WEBHOOK_ALLOWLIST entries must be host:port, got {entry!r}")
        pairs.add((host.strip("[]").lower().rstrip("."), int(port)))
    return pairs


def http_allowed() -> bool:
    """Plain-http receivers only while developing or testing; production webhooks go over TLS."""
    return bool(settings.DEBUG or getattr(settings, "TESTING", False))
