"""One representation of a generation: the API, the WebSocket and the admin all show what this computes."""

from __future__ import annotations

from typing import Any

from generation.estimates import queue_snapshot
from generation.models import Generation

Status = Generation.Status


def image_urls(generation: Generation) -> list[str]:
    """The owner-checked URLs of the result images (never the storage names)."""
    return [f"/media/generations/{generation.pk}/{index}/" for index in range(len(generation.images))]


def error_of(generation: Generation) -> dict[str, str] | None:
    if generation.status != Status.FAILED:
        return None
    return {"code": generation.error_code, "message": generation.error_message}


def is_charged(generation: Generation) -> bool:
    """Whether the user paid for this job (a cached or refunded one cost them nothing)."""
    return generation.billing_state == Generation.Billing.CAPTURED and generation.cost_usd > 0


def queue_position(generation: Generation) -> dict[str, int]:
    """Its place in line and estimated wait while it is queued; nothing once it has left the queue."""
    if generation.status != Status.QUEUED:
        return {}
    position, wait_s = queue_snapshot(generation)
    return {"position": position, "estimated_wait_s": wait_s}


def event_payload(generation: Generation) -> dict[str, Any]:
    """What the owner's open pages are told: the state of the job, and its result or error once it has one."""
    payload: dict[str, Any] = {
        "id": str(generation.pk),
        "status": generation.status,
        "stage": generation.stage,
        "stage_label": Generation.Stage(generation.stage).label,
        "progress": generation.progress,
        "attempts": generation.attempts,
        "cached": generation.cached,
        "lane": generation.lane,
        **queue_position(generation),
    }
    if generation.status == Status.SUCCEEDED:
        payload["images"] = image_urls(generation)
        payload["cost_usd"] = str(generation.cost_usd)
    if (error := error_of(generation)) is not None:
        payload["error"] = error
    return payload
