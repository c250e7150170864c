"""Waiting for what another process does: poll until it holds, fail with what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from generation.models import Generation


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_final(generation_id: Any, timeout: float = 60) -> Any:
    def final() -> Any:
        generation = Generation.objects.get(pk=generation_id)
        return generation if generation.is_final else None

    return wait_for(final, timeout, 0.1, f"generation {generation_id} to finish")
