"""Celery tasks: they take ids; producers send them by name (generation/queue/messages.py), never importing this."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from core.requestid import request_id_var
from generation.runtime import pipeline, sweeper, workers  # noqa: F401 - workers connects the worker's signals

log = logging.getLogger("generation")


@shared_task(name="generation.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_generation(self: Any, generation_id: str, booking: dict[str, object] | None = None) -> None:
    """Run one generation (the id is visible in Flower as the task's argument)."""
    worker = f"{self.request.hostname}/{self.request.id}"
    # The id of the HTTP request that created the job follows it into every log line the worker writes.
    token = request_id_var.set(getattr(self.request, "request_id", None) or "-")
    try:
        pipeline.run(generation_id, worker, booking)
    except SoftTimeLimitExceeded:
        log.warning("generation hit the soft time limit gen=%s", generation_id)
        sweeper.recover_one(generation_id, reason="time limit", owner=worker)
    finally:
        request_id_var.reset(token)


@shared_task(name="generation.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Re-dispatch lost jobs, recover jobs of dead workers, fail jobs past their deadline."""
    return sweeper.sweep()
