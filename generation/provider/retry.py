"""Classify provider outcomes and decide when to try again: retry only what can succeed."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import httpx
import openai
from django.conf import settings
from replicate.exceptions import ReplicateError

from generation.provider.client import PredictionFailed, PredictionTimeout
from generation.provider.downloads import DownloadRefused

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Failure:
    outcome: str  # "retryable", "fatal" or "unknown" (the provider may have done the work and billed it)
    retryable: bool
    code: str
    message: str
    status_code: int | None = None
    retry_after_s: float | None = None

    @property
    def counts_against_breaker(self) -> bool:
        # Rate limits are the limiter's business and fatal errors are the request's fault, not the provider's.
        return self.retryable and self.status_code != 429


DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(text: str | None) -> float | None:
    """OpenAI's `x-ratelimit-reset-*` durations: `120ms`, `1s`, `6m0s`, `1h2m3.5s`."""
    parts = DURATION_PART.findall(text or "")
    if not parts or "".join(n + u for n, u in parts) != (text or "").strip():
        return None
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


def retry_after_from(headers: httpx.Headers | None) -> float | None:
    """Seconds the provider asked us to wait: retry-after-ms, retry-after, or else the reset of an exhausted limit."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, ""))
        except ValueError:
            continue
        if value >= 0:
            return value * scale
    resets = [
        parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
        for kind in ("requests", "images", "tokens")
        if headers.get(f"x-ratelimit-remaining-{kind}") == "0"
    ]
    waits = [wait for wait in resets if wait is not None]
    return max(waits) if waits else None


FATAL_MESSAGES = {
    400: ("bad_request", "The image service could not use this request. Try another photo or prompt."),
    401: ("provider_auth", "The image service is misconfigured on our side; our team has been alerted."),
    403: ("provider_auth", "The image service is misconfigured on our side; our team has been alerted."),
    404: ("model_unavailable", "The image model is not available right now; our team has been alerted."),
}
POLICY_CODES = {"moderation_blocked", "content_policy_violation", "image_generation_user_error"}


def classify(exc: BaseException) -> Failure:
    """Map an SDK exception to what the pipeline should do about it."""
    if isinstance(exc, openai.APITimeoutError):
        return Failure("unknown", True, "timeout", "The image service took too long to answer.")
    if isinstance(exc, openai.APIConnectionError):
        return Failure("unknown", True, "connection_error", "We lost the connection to the image service.")
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    return Failure("unknown", True, "unexpected_error", "Something unexpected happened while generating.")


def _classify_status(exc: openai.APIStatusError) -> Failure:
    status = exc.status_code
    code = str(getattr(exc, "code", None) or "")
    retry_after = retry_after_from(exc.response.headers if exc.response is not None else None)
    if status == 429 and code == "insufficient_quota":
        return Failure(
            "fatal", False, "provider_quota", "The image service is out of credit; our team has been alerted.", status
        )
    if status in RETRYABLE_STATUS or status >= 500:
        return Failure(
            "retryable", True, f"provider_{status}", "The image service had a temporary problem.", status, retry_after
        )
    if code in POLICY_CODES:
        return Failure(
            "fatal",
            False,
            "content_policy",
            "The image service declined this request under its content policy. Try a different photo or prompt.",
            status,
        )
    default = ("provider_error", "The image service rejected this request.")
    short, message = FATAL_MESSAGES.get(status, default)
    return Failure("fatal", False, short, message, status)


# Replicate -------------------------------------------------------------------------------------------------
# Its errors are RFC 7807 documents (ReplicateError), a prediction that ends `failed` carries its model's error
# (codes like E005 "flagged as sensitive"), and its outputs are files fetched afterwards.
REPLICATE_POLICY_MARKERS = ("E005", "flagged as sensitive", "NSFW")


def classify_replicate(exc: BaseException, headers: httpx.Headers | None = None) -> Failure:
    """Map a Replicate outcome (creating a prediction, its end, fetching its file) to what the pipeline does."""
    if isinstance(exc, ReplicateError):
        return _classify_problem(exc, headers)
    if isinstance(exc, PredictionFailed):
        text = str(exc)
        if any(marker.lower() in text.lower() for marker in REPLICATE_POLICY_MARKERS):
            return Failure(
                "fatal",
                False,
                "content_policy",
                "The image service declined this request under its content policy. Try a different photo or prompt.",
            )
        # A prediction that failed made no image, and per-image models bill none: retried, not an attempt used up.
        return Failure("retryable", True, "prediction_failed", "The image service failed to make this image.", 500)
    if isinstance(exc, PredictionTimeout):
        return Failure("unknown", True, "timeout", "The image service took too long to answer.")
    if isinstance(exc, DownloadRefused):
        return Failure("unknown", True, "output_unavailable", "The image service's result could not be fetched.")
    if isinstance(exc, httpx.TimeoutException):
        return Failure("unknown", True, "timeout", "The image service took too long to answer.")
    if isinstance(exc, httpx.TransportError):
        return Failure("unknown", True, "connection_error", "We lost the connection to the image service.")
    return Failure("unknown", True, "unexpected_error", "Something unexpected happened while generating.")


def _classify_problem(exc: ReplicateError, headers: httpx.Headers | None) -> Failure:
    status = exc.status or 500
    if status == 402:
        return Failure(
            "fatal", False, "provider_quota", "The image service is out of credit; our team has been alerted.", status
        )
    if status in RETRYABLE_STATUS or status >= 500:
        retry_after = retry_after_from(headers) if status == 429 else None
        return Failure(
            "retryable", True, f"provider_{status}", "The image service had a temporary problem.", status, retry_after
        )
    if status == 422:
        return Failure("fatal", False, "bad_request", FATAL_MESSAGES[400][1], status)
    short, message = FATAL_MESSAGES.get(status, ("provider_error", "The image service rejected this request."))
    return Failure("fatal", False, short, message, status)


def backoff_s(attempt: int, retry_after_s: float | None = None, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider asked, never past RETRY_MAX_DELAY_S."""
    rng = rng or random.Random()
    cap = settings.RETRY_MAX_DELAY_S
    ceiling = min(cap, settings.RETRY_BASE_S * 2 ** max(attempt - 1, 0))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, cap)
