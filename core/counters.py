"""Counters kept in Redis by whichever process sees the event, read back by /metrics and the ops page.

Best effort: a counter that cannot be written is skipped, never an error for the job that counted it.
"""

from __future__ import annotations

from core.redis import redis_client, server_time

LIMITER_WAIT_KEY = "metrics:limiter_wait_seconds"
LIMITER_WAITS_KEY = "metrics:limiter_waits_total"
CACHE_KEY = "metrics:cache"
CACHE_KINDS = ("exact_hit", "semantic_hit", "coalesced", "miss")
CALLS_KEY = "metrics:calls:{minute}"  # hash: ok, failed; one per minute, kept CALLS_MINUTES_KEPT minutes
CALLS_MINUTES_KEPT = 10

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


def record_call(succeeded: bool) -> None:
    """Count one provider call's outcome in this minute's bucket (what share of calls retries eat)."""
    try:
        client = redis_client()
        key = CALLS_KEY.format(minute=int(server_time(client) // 60))
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key, "ok" if succeeded else "failed", 1)
        pipe.expire(key, CALLS_MINUTES_KEPT * 60)
        pipe.execute()
    except Exception:
        return


def failed_share(minutes: int = 5) -> float:
    """The share of provider calls that failed over the last `minutes` minutes (0 when there were none)."""
    client = redis_client()
    now = int(server_time(client) // 60)
    pipe = client.pipeline(transaction=False)
    for minute in range(now - minutes + 1, now + 1):
        pipe.hmget(CALLS_KEY.format(minute=minute), "ok", "failed")
    ok = failed = 0
    for counts in pipe.execute():
        ok += int(counts[0] or 0)
        failed += int(counts[1] or 0)
    return failed / (ok + failed) if ok + failed else 0.0


def record_moderation(result: str) -> None:
    """result: passed, flagged or unavailable (the check could not run)."""
    try:
        redis_client().hincrby(MODERATION_KEY, result, 1)
    except Exception:
        return
