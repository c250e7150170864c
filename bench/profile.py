"""The time-scaled provider profile, the product's settings scaled the same way, and the scenarios of each mode.

Everything that is a duration in real life is divided by SCALE (30): 15-60 s image calls take 0.5-2 s, the
provider's minute lasts 2 s, a 30 s load-balancer deadline is 1 s. Counts are not scaled: 4 requests and 4
images per (scaled) minute is a real, small provider limit (and all the sandbox can render on 2 shared cores).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

SCALE = 30.0
SEED = 20241122


def scaled(real_seconds: float) -> float:
    return round(real_seconds / SCALE, 4)


# The provider (sandbox) --------------------------------------------------------------------------------------
WINDOW_S = scaled(60)  # the provider's "minute"
PROVIDER_RPM = 4  # requests per (scaled) minute
PROVIDER_IPM = 4  # images per (scaled) minute
LATENCY_S = (scaled(15), scaled(60))  # triangular, peak at a third of the range: most calls quick, long tail
DEADLINE_S = scaled(30)  # the client and load-balancer deadline of a synchronous request
FAULTS = {"rate_500": 0.02, "rate_503": 0.02, "rate_timeout": 0.005, "rate_drop": 0.005, "rate_429": 0.0}
HANG_S = scaled(300)  # a hung call ends when the client hangs up, or after this
# The client timeout on one provider call: 120 s scaled is 4 s, but the sandbox renders real images on the same two
# cores as everything else and its latency stretches under load; twice that keeps the benchmark from timing out
# calls that are only slow because the simulator is starved. Every system gets the same value.
PROVIDER_TIMEOUT_S = 2 * scaled(120)


def sandbox_config(seed: int = SEED) -> dict[str, Any]:
    return {
        "latency_s_min": LATENCY_S[0],
        "latency_s_max": LATENCY_S[1],
        "latency_dist": "triangular",
        "rpm": PROVIDER_RPM,
        "ipm": PROVIDER_IPM,
        "window_s": WINDOW_S,
        "hang_s": HANG_S,
        "retry_after_s": 1.0,
        "outage": False,
        # The provider's GPUs are not on this machine; a full-detail render would take ~0.2 s of its 2 cores per
        # image from whichever system is measured. Same sizes, same look, about 16 times less CPU.
        "render_scale": 4,
        "seed": seed,
        **FAULTS,
        "outage_providers": [],
        "providers": {"replicate": {"rpm": REPLICATE_RPM, "ipm": REPLICATE_RPM}},
    }


def limit_per_s() -> float:
    """Jobs per second the provider allows (one image per job)."""
    return min(PROVIDER_RPM, PROVIDER_IPM) / WINDOW_S


# InteriorAI, configured as an operator would for this provider, its durations scaled like the provider's -----
GENERATION_DEADLINE_S = 30
SLOW_LANE_DEADLINE_S = int(scaled(6 * 3600))  # 720 s
SLOW_LANE_DRAIN_S = 240  # how much longer a scenario with the slow lane waits for its jobs to end
WORKERS = 2
WEB_PROCESSES = int(os.environ.get("BENCH_WEB_PROCESSES", "2"))  # daphne processes on one socket (interiorai.serve)
WORKER_CONCURRENCY = 8


def interiorai_env() -> dict[str, str]:
    return {
        "PROVIDER_RPM": str(PROVIDER_RPM),
        "PROVIDER_IPM": str(PROVIDER_IPM),
        "RATE_LIMIT_WINDOW_S": str(WINDOW_S),
        # The limiter re-stamps a booking the moment its request leaves, so the skew left to absorb is the SDK
        # encoding the upload and the sandbox's event loop taking the request: milliseconds, not scaled, so the
        # margin is wider than 1 s / 30.
        "RATE_LIMIT_SAFETY_S": "0.05",
        "RATE_LIMIT_MAX_WAIT_S": str(scaled(3)),
        "GENERATION_EXPECTED_S": str(scaled(35)),
        "GENERATION_DEADLINE_S": str(GENERATION_DEADLINE_S),  # 15 min real -> 30 s (also the setting's minimum)
        # How far back admission looks for arrivals that cut in: 120 s real, scaled like every other duration (left
        # at 120 s, a 15 s window's arrivals would be spread over 120 s and the estimate would ignore most of them).
        "ADMISSION_ARRIVALS_WINDOW_S": str(scaled(120)),
        # The slow lane, scaled like the rest: 6 h -> 12 min, admitting waits up to 3/4 of it (4.5 h -> 9 min).
        "SLOW_LANE_DEADLINE_S": str(SLOW_LANE_DEADLINE_S),
        "SLOW_LANE_MAX_WAIT_S": str(SLOW_LANE_DEADLINE_S * 3 // 4),
        "GENERATION_LEASE_S": "4",  # renewed every 5 progress ticks (1 s)
        "GENERATION_SOFT_TIME_LIMIT_S": "10",
        "GENERATION_TIME_LIMIT_S": "15",
        "OPENAI_TIMEOUT_S": str(PROVIDER_TIMEOUT_S),
        "REDISPATCH_AFTER_S": str(int(scaled(120))),
        "SWEEP_INTERVAL_S": "1",
        "PRIORITY_AGING_S": str(GENERATION_DEADLINE_S / 3),  # the default: a third of the deadline (300 s real)
        "BREAKER_WINDOW_S": "2",
        "BREAKER_OPEN_S": str(scaled(20)),
        "PROGRESS_TICK_S": "0.2",
        # How long a job steps aside when it cannot go now, scaled like everything else.
        "RETRY_BASE_S": str(scaled(2)),
        "IN_FLIGHT_RETRY_S": str(scaled(2)),
        "REDIS_DOWN_RETRY_S": str(scaled(5)),
        "BREAKER_MIN_WAIT_S": str(scaled(1)),
        "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "OPENAI_IMAGE_MODEL": "gpt-image-1",
        "OPENAI_FALLBACK_MODELS": "gpt-image-1-mini",
        # One provider family, as the baselines have: the second family is the interiorai-failover variant's.
        "PROVIDER_CHAIN": "openai:gpt-image-1,openai:gpt-image-1-mini",
        # The semantic result cache embeds every prompt inside POST /generations; off unless asked for, since the
        # benchmark's prompts are all distinct (see docs/BENCHMARKS.md for what it costs when on).
        "CACHE_SEMANTIC": os.environ.get("BENCH_CACHE_SEMANTIC", "0"),
    }


# The second provider family (Replicate, served by the same sandbox): its own, roomier limit, as Replicate's is.
REPLICATE_RPM = 20
REPLICATE_MODEL = "black-forest-labs/flux-kontext-pro"


def failover_env() -> dict[str, str]:
    """The interiorai-failover variant: the same system with Replicate after OpenAI in its chain."""
    return {
        "PROVIDER_CHAIN": f"openai:gpt-image-1,replicate:{REPLICATE_MODEL}",
        "REPLICATE_RPM": str(REPLICATE_RPM),
        "REPLICATE_IPM": str(REPLICATE_RPM),
        "REPLICATE_TIMEOUT_S": str(PROVIDER_TIMEOUT_S),
        "REPLICATE_POLL_S": str(scaled(3)),
    }


# Users ------------------------------------------------------------------------------------------------------
# One in ten business, three in ten pro, the rest free.
def tier_of(index: int) -> str:
    return "business" if index % 10 == 0 else "pro" if index % 10 in (1, 2, 3) else "free"


# A user's pace: a session opens, uploads a photo, then submits a redesign after Exp(THINK_S) and again after each
# result: one generation per ~15 real minutes while browsing styles.
THINK_S = scaled(900)


@dataclass(frozen=True)
class Scenario:
    name: str  # steady, burst, chaos_worker_kill, chaos_redis_restart, chaos_provider_outage, chaos_primary_outage
    users: int
    window_s: float = 0.0  # steady: how long users keep submitting
    ramp_s: float = 0.0  # sessions open over this long
    max_jobs_per_user: int = 3
    burst: int = 0  # burst: simultaneous POSTs (one per user)
    chaos_at_s: float = 0.0
    chaos_for_s: float = 0.0
    think_s: float | None = None  # None: the documented pace (THINK_S)
    # Share of users who, refused with a 503 that offers the slow lane, take it (re-POST with accept_slow).
    slow_lane_free: float = 0.0
    slow_lane_paid: float = 0.0

    @property
    def slow_lane(self) -> bool:
        return bool(self.slow_lane_free or self.slow_lane_paid)

    @property
    def key(self) -> str:
        return f"{self.name}-{self.users}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Mode:
    name: str
    scenarios: list[Scenario]
    systems: list[str] = field(default_factory=lambda: ["interiorai", "naive-daphne", "litellm", "naive-gunicorn"])
    warmup: bool = True
    # Warm a restarted baseline again before each scenario (its first call would otherwise pay the imports).
    rewarm: bool = True

    def scenarios_for(self, system: str) -> list[Scenario]:
        if system == "interiorai":
            return self.scenarios
        if system == "interiorai-failover":  # the same system, measured where the second family matters
            return [s for s in self.scenarios if s.name == "chaos_primary_outage"]
        # The baselines have no Redis to restart, and one provider family: a primary outage is their full outage.
        return [s for s in self.scenarios if s.name not in ("chaos_redis_restart", "chaos_primary_outage")]


def chaos(name: str, users: int, window_s: float, ramp_s: float) -> Scenario:
    at = window_s * 0.4
    return Scenario(name, users, window_s, ramp_s, chaos_at_s=at, chaos_for_s=scaled(180))


FULL = Mode(
    "full",
    [
        Scenario("steady", 50, window_s=30, ramp_s=5),
        Scenario("steady", 200, window_s=20, ramp_s=5),
        Scenario("steady", 1000, window_s=15, ramp_s=8, slow_lane_free=1.0),
        Scenario("burst", 200, burst=200),
        Scenario("burst", 1000, burst=1000),
        chaos("chaos_worker_kill", 200, 15, 5),
        chaos("chaos_redis_restart", 200, 15, 5),
        chaos("chaos_provider_outage", 200, 15, 5),
        chaos("chaos_primary_outage", 200, 15, 5),
    ],
    systems=["interiorai", "interiorai-failover", "naive-daphne", "litellm", "naive-gunicorn"],
)

QUICK = Mode(
    "quick",
    [
        Scenario("steady", 20, window_s=12, ramp_s=2),
        Scenario("steady", 50, window_s=10, ramp_s=2),
        Scenario("steady", 100, window_s=10, ramp_s=3, slow_lane_free=1.0),
        Scenario("burst", 50, burst=50),
        Scenario("burst", 100, burst=100),
        chaos("chaos_worker_kill", 50, 12, 2),
        chaos("chaos_redis_restart", 50, 12, 2),
        chaos("chaos_provider_outage", 50, 12, 2),
        chaos("chaos_primary_outage", 50, 12, 2),
    ],
    systems=["interiorai", "interiorai-failover", "naive-daphne", "litellm", "naive-gunicorn"],
    rewarm=False,
)

SMOKE = Mode(
    "smoke",
    [Scenario("steady", 8, window_s=4, ramp_s=1, max_jobs_per_user=2, think_s=1.0)],
    systems=["interiorai"],
    warmup=False,
)

# Not reported: warms each system's processes (imports, connections, first queries) before the first measurement.
WARMUP = Scenario("warmup", 4, window_s=3, ramp_s=0.5, max_jobs_per_user=2, think_s=0.5)

MODES = {mode.name: mode for mode in (FULL, QUICK, SMOKE)}
