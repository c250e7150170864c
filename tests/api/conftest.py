"""Fixtures of the API tests."""

from __future__ import annotations

from typing import Any

import pytest

from generation import estimates


@pytest.fixture
def one_slow_slot(settings: Any, monkeypatch: Any) -> Any:
    """One worker slot, 10 s calls, no provider limit: the n-th job in line waits about 10 * n seconds."""
    settings.WORKER_CONCURRENCY = 1
    settings.GENERATION_EXPECTED_S = 10.0
    settings.PROVIDER_RPM = settings.PROVIDER_IPM = 0
    monkeypatch.setattr(estimates, "_slots", (0.0, 0))  # no worker heard from: the configured concurrency counts
    return settings
