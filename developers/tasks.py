"""Celery tasks for webhooks: they take ids, and everything they change goes through developers.webhooks."""

from __future__ import annotations

from celery import shared_task

from developers import webhooks


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: str) -> str | None:
    """Make one attempt at one delivery (retries are scheduled by the attempt itself, not by Celery)."""
    return webhooks.deliver(delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep_webhooks() -> dict[str, int]:
    """Send deliveries that are due but whose message was lost; drop deliveries past the log retention."""
    return webhooks.sweep()
