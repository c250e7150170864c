"""The provider interface's dispatch: each family redesigns, cancels its own work and classifies its own errors."""

from __future__ import annotations

import logging

from generation.models import ProviderCall
from generation.provider import openai_images, replicate_images, retry
from generation.provider.client import Hooks, Result, Target, targets

log = logging.getLogger("generation")


def redesign(
    target: Target, photo: bytes, prompt: str, *, size: str, quality: str, n: int, hooks: Hooks | None = None
) -> Result:
    """Redesign this photo on the target: its images, the size they should have, and the usage the provider reported."""
    family = replicate_images if target.provider == "replicate" else openai_images
    return family.redesign(target, photo, prompt, size=size, quality=quality, n=n, hooks=hooks)


def classify(target: Target, exc: BaseException) -> retry.Failure:
    if target.provider == "replicate":
        return retry.classify_replicate(exc, replicate_images.last_headers())
    return retry.classify(exc)


def cancel_pending(generation_id: object) -> int:
    """Cancel the provider work a job that ended still has running (Replicate predictions); how many calls had some."""
    calls = ProviderCall.objects.filter(
        generation_id=generation_id,
        provider="replicate",
        outcome__in=[ProviderCall.Outcome.IN_FLIGHT, ProviderCall.Outcome.UNKNOWN],
    ).exclude(prediction_ids=[])
    done = 0
    for call in calls:
        target = next((t for t in targets() if t.provider == call.provider and t.model == call.model), None)
        if target is not None:
            replicate_images.cancel(target, list(call.prediction_ids))
            done += 1
    return done
