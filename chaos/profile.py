"""The chaos run's time-scaled provider and the product's settings scaled to match (like bench/profile.py).

A provider "minute" lasts WINDOW_S seconds and allows LIMIT requests (one image each): 2 jobs a second, which two
shared cores can serve with every host, the sandbox, Redis and PostgreSQL on them (one worker process alone spends
most of a core on 2 jobs a second). Image calls take 0.5-2 s (15-60 s scaled by 1/30). Leases last 6 s, renewed
every 2 s, so a freeze of 18 s outlives three; deadlines are long enough for 300 parked jobs to drain at the
provider's pace.
"""

from __future__ import annotations

from typing import Any

WINDOW_S = 4.0
LIMIT = 8  # requests and images per window
LATENCY_S = (0.5, 2.0)
DEADLINE_S = 240
LEASE_S = 6
SEED = 20261127


def limit_per_s() -> float:
    return LIMIT / WINDOW_S


def sandbox_config(**overrides: Any) -> dict[str, Any]:
    """The provider: the limit, the latency, no injected faults (the nemeses are the faults), nothing down."""
    return {
        "latency_s_min": LATENCY_S[0],
        "latency_s_max": LATENCY_S[1],
        "latency_dist": "triangular",
        "rpm": LIMIT,
        "ipm": LIMIT,
        "window_s": WINDOW_S,
        "retry_after_s": 0.5,
        "outage": False,
        "render_scale": 4,
        "rate_429": 0.0,
        "rate_500": 0.0,
        "rate_503": 0.0,
        "rate_timeout": 0.0,
        "rate_drop": 0.0,
        "rate_blank": 0.0,
        "rate_corrupt": 0.0,
        "seed": SEED,
        **overrides,
    }


def product_env() -> dict[str, str]:
    """InteriorAI's settings for this provider, every wait scaled like the provider's minute."""
    return {
        "PROVIDER_CHAIN": "openai:gpt-image-1",
        "REPLICATE_MODEL": "",
        "OPENAI_IMAGE_MODEL": "gpt-image-1",
        "PROVIDER_RPM": str(LIMIT),
        "PROVIDER_IPM": str(LIMIT),
        "RATE_LIMIT_WINDOW_S": str(WINDOW_S),
        # The booking is re-stamped when the request leaves; what is left is the SDK and the sandbox's event loop
        # on two busy cores. A tenth of a second keeps arrivals under the limit and costs 2.5 % of the window.
        "RATE_LIMIT_SAFETY_S": "0.1",
        "RATE_LIMIT_MAX_WAIT_S": "0.1",
        "OPENAI_TIMEOUT_S": "8",
        "GENERATION_EXPECTED_S": "1.2",
        "GENERATION_DEADLINE_S": str(DEADLINE_S),
        "ADMISSION_MAX_WAIT_S": "0",  # accept every job: the scenarios decide the load, the deadline bounds it
        "GENERATION_LEASE_S": str(LEASE_S),
        "REDISPATCH_AFTER_S": "4",
        "SWEEP_INTERVAL_S": "1",
        "PRIORITY_AGING_S": "4",
        "PROGRESS_TICK_S": "0.4",  # the lease is renewed every fifth tick
        "BREAKER_WINDOW_S": "2",
        "BREAKER_OPEN_S": "1",
        "RETRY_BASE_S": "0.1",
        "RETRY_MAX_DELAY_S": "4",
        "IN_FLIGHT_RETRY_S": "0.1",
        "REDIS_DOWN_RETRY_S": "0.2",
        "BREAKER_MIN_WAIT_S": "0.1",
        "RESULT_KEEP_S": "60",
        "MAX_QUEUED_PER_USER": "1000",
        "WORKER_CONCURRENCY": "8",
        "DB_CONNECT_TIMEOUT_S": "2",
        "DB_STATEMENT_TIMEOUT_S": "10",
        "STORAGE_CONNECT_TIMEOUT_S": "1",
        "STORAGE_TIMEOUT_S": "3",
        "MODERATION_ENABLED": "0",  # no free-text check: every sandbox request is an image call
        "CACHE_ENABLED": "0",  # every job pays its own call, so calls and results pair up one to one
        "API_THROTTLE_WORK": "1000000/min",
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_TOKEN": "1000000/min",
        "ALERTS_INTERVAL_S": "3600",
    }
