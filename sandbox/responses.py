"""Build `ImagesResponse` bodies, including plausible token usage for GPT image models."""

from __future__ import annotations

import base64
import math
import time
from typing import Any

from .validation import ImageJob

# Output tokens per image from OpenAI's gpt-image-1 pricing table, keyed by (quality, shape).
OUTPUT_TOKENS = {
    ("low", "square"): 272,
    ("low", "portrait"): 408,
    ("low", "landscape"): 400,
    ("medium", "square"): 1056,
    ("medium", "portrait"): 1584,
    ("medium", "landscape"): 1568,
    ("high", "square"): 4160,
    ("high", "portrait"): 6240,
    ("high", "landscape"): 6208,
}
HIGH_FIDELITY_EXTRA_TOKENS = 4160


def reported_quality(quality: str) -> str:
    """Resolve `auto` the way the response reports it (the spec allows low/medium/high only)."""
    return "medium" if quality in ("auto", "standard") else quality


def image_tokens(width: int, height: int) -> int:
    """Estimate input image tokens with the vision tiling rule (85 + 170 per 512 px tile)."""
    fit = min(1.0, 2048 / max(width, height))
    shrink = fit * min(1.0, 768 / (min(width, height) * fit))
    tiles = math.ceil(width * shrink / 512) * math.ceil(height * shrink / 512)
    return 85 + 170 * tiles


def usage(job: ImageJob, size: tuple[int, int], input_sizes: list[tuple[int, int]]) -> dict[str, Any]:
    """Return an `ImageGenUsage` object: plausible, deterministic, not billing-exact."""
    text = math.ceil(len(job.prompt) / 4)
    images = sum(image_tokens(width, height) for width, height in input_sizes)
    if input_sizes and job.input_fidelity == "high":
        images += HIGH_FIDELITY_EXTRA_TOKENS
    shape = "square" if size[0] == size[1] else "landscape" if size[0] > size[1] else "portrait"
    output = OUTPUT_TOKENS[(reported_quality(job.quality), shape)] * job.n
    return {
        "input_tokens": text + images,
        "input_tokens_details": {"text_tokens": text, "image_tokens": images},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text + images + output,
    }


def images_response(
    job: ImageJob,
    images: list[bytes],
    size: tuple[int, int],
    input_sizes: list[tuple[int, int]],
    urls: list[str] | None = None,
) -> dict[str, Any]:
    """Return the JSON body for a successful image request."""
    if urls is not None:
        data: list[dict[str, str]] = [{"url": url} for url in urls]
    else:
        data = [{"b64_json": base64.b64encode(image).decode("ascii")} for image in images]
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    if job.is_gpt:
        body.update(
            background="transparent" if job.background == "transparent" else "opaque",
            output_format=job.output_format,
            size=f"{size[0]}x{size[1]}",
            quality=reported_quality(job.quality),
            usage=usage(job, size, input_sizes),
        )
    return body
