"""OpenAI's Images API through the official SDK: one `images.edit` call per attempt, priced from its `usage`."""

from __future__ import annotations

import base64
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any

import httpx
import openai
from django.conf import settings

from billing.pricing import Usage
from generation.provider.client import Hooks, Result, Target

SANDBOX_KEY = "sk-sandbox-local"
log = logging.getLogger("generation")
# The call this thread is making: what to run when its request goes out (Hooks.leaving), once.
_leaving: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("leaving", default=None)


def _on_request(request: httpx.Request) -> None:
    """httpx's last step before the request is written to the connection: the moment it leaves."""
    leaving = _leaving.get()
    if leaving is None:
        return
    _leaving.set(None)
    try:
        leaving()
    except Exception:
        log.warning("the leaving hook failed; the call goes ahead", exc_info=True)


@functools.lru_cache(maxsize=8)
def client_for(base_url: str | None, timeout_s: float) -> openai.OpenAI:
    # The SDK's own retries are off: every call the provider sees must be one the pipeline recorded.
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY or SANDBOX_KEY,
        base_url=base_url,
        max_retries=0,
        timeout=httpx.Timeout(timeout_s, connect=10.0),  # type: ignore[arg-type]
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [_on_request]}),
    )


def is_gpt_image(model: str) -> bool:
    return model.startswith("gpt-image")


def usage_of(response: Any) -> Usage:
    """The tokens the answer reports (`ImageGenUsage`), or an empty Usage when it reports none."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()
    inputs = getattr(usage, "input_tokens_details", None)
    outputs = getattr(usage, "output_tokens_details", None)
    text_in = int(getattr(inputs, "text_tokens", 0) or 0)
    image_in = int(getattr(inputs, "image_tokens", 0) or 0)
    if inputs is None:
        image_in = int(getattr(usage, "input_tokens", 0) or 0)
    output = int(getattr(usage, "output_tokens", 0) or 0)
    text_out = int(getattr(outputs, "text_tokens", 0) or 0) if outputs is not None else 0
    return Usage(
        text_input_tokens=text_in,
        image_input_tokens=image_in,
        image_output_tokens=output - text_out,
        text_output_tokens=text_out,
    )


def redesign(
    target: Target, photo: bytes, prompt: str, *, size: str, quality: str, n: int, hooks: Hooks | None = None
) -> Result:
    """Redesign the photo: one `images.edit` call, raising the SDK's exceptions on failure."""
    token = _leaving.set(hooks.leaving if hooks else None)
    try:
        return _edit(target, photo, prompt, size=size, quality=quality, n=n)
    finally:
        _leaving.reset(token)


def _edit(target: Target, photo: bytes, prompt: str, *, size: str, quality: str, n: int) -> Result:
    client = client_for(target.base_url, settings.OPENAI_TIMEOUT_S)
    options: dict[str, object] = {"model": target.model, "prompt": prompt, "n": n, "size": size}
    if is_gpt_image(target.model):
        options.update(quality=quality, output_format="jpeg", output_compression=92)
    else:
        options.update(response_format="b64_json")
    raw = client.images.with_raw_response.edit(image=("room.jpg", photo, "image/jpeg"), **options)  # type: ignore[call-overload]
    response = raw.parse()
    images = [base64.b64decode(item.b64_json) for item in response.data or [] if item.b64_json]
    return Result(
        images=images,
        size=getattr(response, "size", None) or size,
        quality=getattr(response, "quality", None) or quality,
        request_id=raw.headers.get("x-request-id", ""),
        headers={k: v for k, v in raw.headers.items() if k.startswith("x-ratelimit")},
        usage=usage_of(response),
    )
