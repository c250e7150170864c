"""Replicate's predictions through the official `replicate` client: created, recorded, polled, fetched, or cancelled.

A prediction is created without `Prefer: wait`, so its id comes back at once and is recorded (Hooks.submitted)
before any waiting: a worker that dies while the model works is followed by one that polls the same prediction,
never one that pays for a second. A job taken away meanwhile (cancelled, expired) cancels its predictions. FLUX
Kontext makes one image per prediction, so a job of n images is n predictions, each recorded as it is created.
The output file is fetched from the provider's own hosts only (downloads.py). The client's own retries cover only
polls (GET), never a creation, so every prediction made is one the pipeline recorded.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import threading
import time
from typing import Any

import httpx
import replicate
from django.conf import settings
from replicate.exceptions import ReplicateError

from billing.pricing import Usage
from generation.provider import downloads
from generation.provider.client import Abandoned, Hooks, PredictionFailed, PredictionTimeout, Result, Target

log = logging.getLogger("generation")
SANDBOX_TOKEN = "r8_sandbox_local"  # noqa: S105 - what the sandbox is sent, never a real token
API_BASE = "https://api.replicate.com"
# Our sizes, as the aspect ratio asked of FLUX Kontext, and the size it renders at that ratio (about a megapixel).
ASPECTS = {"1024x1024": "1:1", "1536x1024": "3:2", "1024x1536": "2:3"}
RENDERED = {"1:1": "1024x1024", "3:2": "1248x832", "2:3": "832x1248"}
_last = threading.local()


def remember_headers(response: httpx.Response) -> None:
    # The client's errors keep no headers; a 429's retry-after is read from here, on the thread that made the call.
    _last.headers = response.headers


def last_headers() -> httpx.Headers | None:
    return getattr(_last, "headers", None)


@functools.lru_cache(maxsize=8)
def client_for(base_url: str | None) -> replicate.Client:
    return replicate.Client(
        api_token=settings.REPLICATE_API_TOKEN or SANDBOX_TOKEN,
        base_url=base_url or API_BASE,
        timeout=httpx.Timeout(30.0, connect=10.0),
        event_hooks={"response": [remember_headers]},
    )


def input_for(photo: bytes, prompt: str, size: str) -> dict[str, Any]:
    """FLUX Kontext's input: the photo as a data URI, the aspect ratio of our size (or the photo's, for `auto`)."""
    return {
        "prompt": prompt,
        "input_image": "data:image/jpeg;base64," + base64.b64encode(photo).decode(),
        "aspect_ratio": ASPECTS.get(size, "match_input_image"),
        "output_format": "jpg",
        "safety_tolerance": 2,
    }


def redesign(
    target: Target, photo: bytes, prompt: str, *, size: str, quality: str, n: int, hooks: Hooks | None = None
) -> Result:
    """Create (or resume) the job's predictions, wait for them, and fetch their images."""
    hooks = hooks or Hooks()
    client = client_for(target.base_url)
    ids = list(hooks.resume)
    if len(ids) < n:
        payload = input_for(photo, prompt, size)
        hooks.leaving()
        while len(ids) < n:
            prediction = client.models.predictions.create(model=target.model, input=payload)
            ids.append(prediction.id)
            hooks.submitted(list(ids))
    deadline = time.monotonic() + settings.REPLICATE_TIMEOUT_S
    finished = [wait_for(client, target, prediction_id, ids, deadline, hooks) for prediction_id in ids]
    base = target.base_url or API_BASE
    images = [downloads.fetch(url, base) for prediction in finished for url in outputs_of(prediction)]
    metrics = [prediction.metrics or {} for prediction in finished]
    usage = Usage(
        images=sum(int(m.get("image_count") or 1) for m in metrics),
        predict_time_s=round(sum(float(m.get("predict_time") or 0) for m in metrics), 3),
    )
    aspect = ASPECTS.get(size)
    return Result(images, RENDERED[aspect] if aspect else "auto", quality, ",".join(ids), {}, usage)


def outputs_of(prediction: Any) -> list[str]:
    output = prediction.output
    return [output] if isinstance(output, str) else [str(item) for item in output or []]


def wait_for(
    client: replicate.Client, target: Target, prediction_id: str, ids: list[str], deadline: float, hooks: Hooks
) -> Any:
    """Poll until the prediction has finished; a failed poll is tried again (reading costs nothing)."""
    while True:
        try:
            prediction = client.predictions.get(prediction_id)
        except (ReplicateError, httpx.HTTPError) as exc:
            if isinstance(exc, ReplicateError) and exc.status == 404:
                raise PredictionFailed(f"prediction {prediction_id} is gone") from exc
            log.warning("prediction poll failed id=%s: %s; polling again", prediction_id, type(exc).__name__)
            prediction = None
        if prediction is not None and prediction.status == "succeeded":
            return prediction
        if prediction is not None and prediction.status in ("failed", "canceled"):
            raise PredictionFailed(prediction.error or f"the prediction was {prediction.status}")
        wanted = hooks.wanted()
        if wanted != "keep":
            if wanted == "cancel":
                cancel(target, ids)
            raise Abandoned(wanted)
        if time.monotonic() > deadline:
            cancel(target, ids)
            raise PredictionTimeout(f"prediction {prediction_id} ran past REPLICATE_TIMEOUT_S")
        time.sleep(settings.REPLICATE_POLL_S)


def cancel(target: Target, ids: list[str]) -> None:
    """Cancel the predictions (best effort: one that has finished stays as it is)."""
    client = client_for(target.base_url)
    for prediction_id in ids:
        with contextlib.suppress(ReplicateError, httpx.HTTPError):
            client.predictions.cancel(prediction_id)
            log.info("prediction cancelled id=%s", prediction_id)
