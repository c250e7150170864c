"""Random fault injection and latency, drawn from one seeded RNG."""

from __future__ import annotations

import enum
import random

from .config import SandboxConfig


class Fault(enum.Enum):
    """What goes wrong with a request, if anything."""

    NONE = "none"
    RATE_LIMIT = "429"
    TIMEOUT = "timeout"
    DROP = "drop"
    SERVER_ERROR = "500"
    UNAVAILABLE = "503"


# Checked in this order; early faults answer before the latency sleep, late ones after it.
FAULT_RATES = (
    (Fault.RATE_LIMIT, "rate_429"),
    (Fault.TIMEOUT, "rate_timeout"),
    (Fault.DROP, "rate_drop"),
    (Fault.SERVER_ERROR, "rate_500"),
    (Fault.UNAVAILABLE, "rate_503"),
)
LATE_FAULTS = frozenset({Fault.DROP, Fault.SERVER_ERROR, Fault.UNAVAILABLE})


def draw_fault(rng: random.Random, config: SandboxConfig) -> Fault:
    """Pick at most one fault; every rate gets its own draw so each probability holds alone."""
    # Always draw all of them so the RNG stream does not depend on which fault fired.
    draws = [(fault, rng.random() < getattr(config, key)) for fault, key in FAULT_RATES]
    return next((fault for fault, hit in draws if hit), Fault.NONE)


def draw_latency(rng: random.Random, config: SandboxConfig) -> float:
    """Draw a latency in seconds between `latency_s_min` and `latency_s_max`.

    `uniform` spreads evenly; `triangular` peaks at one third of the range, so most calls are
    quick and a few take long, like real image generation.
    """
    low, high = config.latency_s_min, config.latency_s_max
    if config.latency_dist == "triangular":
        return rng.triangular(low, high, low + (high - low) / 3)
    return rng.uniform(low, high)


class Spoil(enum.Enum):
    """What is wrong with a successful image answer, if anything (the client must notice on its own)."""

    NONE = "none"
    BLANK = "blank"
    CORRUPT = "corrupt"


def draw_spoil(rng: random.Random, config: SandboxConfig) -> Spoil:
    """Pick at most one way to spoil an answer's images, from a stream of its own (the faults' stays as it was)."""
    blank, corrupt = rng.random() < config.rate_blank, rng.random() < config.rate_corrupt
    return Spoil.BLANK if blank else Spoil.CORRUPT if corrupt else Spoil.NONE
