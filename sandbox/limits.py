"""Requests- and images-per-minute limits over a sliding window (60 s, or a time-scaled `window_s`)."""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 60.0


def format_duration(seconds: float) -> str:
    """Format like OpenAI's `x-ratelimit-reset-*` headers: `120ms`, `1s`, `6m0s`, `1h2m3.5s`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{int(minutes)}m" + text
    if hours:
        text = f"{int(hours)}h" + text
    return text


@dataclass
class SlidingWindow:
    """Amounts spent in the last `window_s` seconds, oldest first."""

    entries: deque[tuple[float, int]] = field(default_factory=deque)
    window_s: float = WINDOW_S

    def used(self, now: float) -> int:
        """Return the amount spent in the window ending at `now`."""
        while self.entries and self.entries[0][0] <= now - self.window_s:
            self.entries.popleft()
        return sum(amount for _, amount in self.entries)

    def wait_for(self, limit: int, amount: int, now: float) -> float:
        """Return seconds until `amount` more fits under `limit` (0 if it fits now)."""
        excess = self.used(now) + amount - limit
        if excess <= 0:
            return 0.0
        freed = 0
        for stamp, spent in self.entries:
            freed += spent
            if freed >= excess:
                return stamp + self.window_s - now
        # More than the whole limit in one request can never fit; a minute is the honest answer.
        return self.window_s

    def next_free(self, now: float) -> float:
        """Return seconds until the oldest entry leaves the window (0 if empty)."""
        self.used(now)
        return self.entries[0][0] + self.window_s - now if self.entries else 0.0

    def add(self, amount: int, at: float) -> None:
        """Spend `amount` at `at` (kept in time order: a request may be booked at its arrival, after a later one)."""
        bisect.insort(self.entries, (at, amount))


@dataclass(frozen=True)
class LimitDecision:
    """Whether a request may proceed, and the headers to send either way."""

    allowed: bool
    retry_after_s: float
    exceeded: str | None
    headers: dict[str, str]


class RateLimiter:
    """Enforce `rpm` and `ipm` (0 = unlimited) with sliding one-minute windows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.requests = SlidingWindow()
        self.images = SlidingWindow()

    def reset(self) -> None:
        """Forget everything spent so far."""
        self.requests = SlidingWindow()
        self.images = SlidingWindow()

    def acquire(
        self, rpm: int, ipm: int, images: int, window_s: float = WINDOW_S, *, arrived: float | None = None
    ) -> LimitDecision:
        """Spend one request and `images` images if both fit, else refuse and spend nothing.

        `arrived` (same clock) books the request at the moment it reached the server, as a gateway counts it,
        rather than after its body was read.
        """
        now = self.clock() if arrived is None else min(arrived, self.clock())
        self.requests.window_s = self.images.window_s = window_s
        waits = {
            "requests": self.requests.wait_for(rpm, 1, now) if rpm else 0.0,
            "images": self.images.wait_for(ipm, images, now) if ipm else 0.0,
        }
        exceeded = max(waits, key=lambda kind: waits[kind])
        if waits[exceeded] > 0:
            return LimitDecision(False, waits[exceeded], exceeded, self._headers(rpm, ipm, now))
        self.requests.add(1, now)
        self.images.add(images, now)
        return LimitDecision(True, 0.0, None, self._headers(rpm, ipm, now))

    def _headers(self, rpm: int, ipm: int, now: float) -> dict[str, str]:
        """Build `x-ratelimit-*` headers for each limit that is switched on."""
        headers: dict[str, str] = {}
        for kind, limit, window in (("requests", rpm, self.requests), ("images", ipm, self.images)):
            if not limit:
                continue
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - window.used(now)))
            headers[f"x-ratelimit-reset-{kind}"] = format_duration(window.next_free(now))
        return headers


def retry_after_headers(seconds: float) -> dict[str, str]:
    """Build `retry-after` (whole seconds, at least 1) and `retry-after-ms`."""
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }
