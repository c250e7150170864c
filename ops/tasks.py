"""The ops tasks beat sends: the alert evaluation."""

from __future__ import annotations

from celery import shared_task

from ops import alerts


@shared_task(name="ops.alerts", ignore_result=True)
def evaluate_alerts() -> dict[str, str]:
    """Measure the watched figures against their baselines; open, keep or clear their alerts."""
    return alerts.evaluate()
