"""Counters kept in Redis by whichever process sees the event, read back by /metrics and the ops page.

Best effort: a counter that cannot be written is skipped, never an error for the job that counted it.
"""

from __future__ import annotations

from core.redis import redis_client

LIMITER_WAIT_KEY = "metrics:limiter_wait_seconds"
LIMITER_WAITS_KEY = "metrics:limiter_waits_total"
CACHE_KEY = "metrics:cache"
CACHE_KINDS = ("exact_hit", "semantic_hit", "coalesced", "miss")
MODERATION_KEY = "metrics:moderation"
MODERATION_RESULTS = ("passed", "flagged", "unavailable")


def record_limiter_wait(seconds: float) -> None:
    try:
        pipe = redis_client().pipeline()
        pipe.incrbyfloat(LIMITER_WAIT_KEY, seconds)
        pipe.incr(LIMITER_WAITS_KEY)
        pipe.execute()
    except Exception:
        return


def record_cache(kind: str) -> None:
    """kind: exact_hit, semantic_hit, miss or coalesced."""
    try:
        redis_client().hincrby(CACHE_KEY, kind, 1)
    except Exception:
        return


def record_moderation(result: str) -> None:
    """result: passed, flagged or unavailable (the check could not run)."""
    try:
        redis_client().hincrby(MODERATION_KEY, result, 1)
    except Exception:
        return
