"""The ops tasks beat sends: the alert evaluation, and housekeeping of rows kept only for a while."""

from __future__ import annotations

from celery import shared_task

from generation import services
from ops import alerts


@shared_task(name="ops.alerts", ignore_result=True)
def evaluate_alerts() -> dict[str, str]:
    """Measure the watched figures against their baselines; open, keep or clear their alerts."""
    return alerts.evaluate()


@shared_task(name="housekeeping.prune_idempotency_keys", ignore_result=True)
def prune_idempotency_keys() -> int:
    """Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_S."""
    return services.prune_idempotency_keys()
