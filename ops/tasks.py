"""Housekeeping on beat's schedule: rows kept only for a while are deleted once their time is up."""

from __future__ import annotations

from celery import shared_task

from generation import services


@shared_task(name="housekeeping.prune_idempotency_keys", ignore_result=True)
def prune_idempotency_keys() -> int:
    """Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_S."""
    return services.prune_idempotency_keys()
