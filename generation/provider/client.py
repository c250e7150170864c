"""The image provider: OpenAI's Images API through the official SDK, or the project's sandbox (the same SDK)."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import httpx
import openai
from django.conf import settings

SANDBOX_KEY = "sk-sandbox-local"


@dataclass(frozen=True)
class Target:
    """One place images can come from: a provider name, an endpoint and a model."""

    provider: str
    base_url: str | None
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class Result:
    images: list[bytes]
    size: str
    quality: str
    request_id: str
    headers: dict[str, str]


def targets() -> list[Target]:
    """The primary model first, then the configured fallbacks, in order."""
    if settings.OPENAI_API_KEY:
        provider, base_url = "openai", settings.OPENAI_BASE_URL or None
    else:
        provider, base_url = "sandbox", settings.OPENAI_BASE_URL or f"http://127.0.0.1:{settings.SANDBOX_PORT}/v1"
    models = [settings.OPENAI_IMAGE_MODEL, *settings.OPENAI_FALLBACK_MODELS]
    return [Target(provider, base_url, model) for model in dict.fromkeys(models)]


@functools.lru_cache(maxsize=8)
def client_for(base_url: str | None, timeout_s: float) -> openai.OpenAI:
    # The SDK's own retries are off: every call the provider sees must be one the pipeline recorded.
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY or SANDBOX_KEY,
        base_url=base_url,
        max_retries=0,
        timeout=httpx.Timeout(timeout_s, connect=10.0),  # type: ignore[arg-type]
    )


def is_gpt_image(model: str) -> bool:
    return model.startswith("gpt-image")


def edit_image(target: Target, photo: bytes, prompt: str, *, size: str, quality: str, n: int) -> Result:
    """Redesign the photo: one `images.edit` call, raising the SDK's exceptions on failure."""
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
    )
