"""Outcome classification, on real SDK exceptions produced by the sandbox over HTTP."""

from __future__ import annotations

import random

import httpx
import openai
import pytest
from django.conf import settings

from generation.provider.retry import backoff_s, classify, retry_after_from
from tests.support.images import room_photo


def call(provider, **kwargs):
    client = openai.OpenAI(
        api_key=kwargs.pop("api_key", "sk-test"),
        base_url=provider.api_base,
        max_retries=0,
        timeout=kwargs.pop("timeout", 10),
    )
    try:
        client.images.edit(
            image=("room.jpg", room_photo(), "image/jpeg"),
            prompt=kwargs.pop("prompt", "modern"),
            model=kwargs.pop("model", "gpt-image-1"),
            **kwargs,
        )
    except openai.OpenAIError as exc:
        return classify(exc)
    raise AssertionError("the call was expected to fail")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("rate_429", 429, "provider_429"), ("rate_500", 500, "provider_500"), ("rate_503", 503, "provider_503")],
)
def test_transient_faults_are_retryable(provider, fault, status, code):
    provider.configure(**{fault: 1.0})
    failure = call(provider)
    assert failure.retryable and failure.outcome == "retryable"
    assert (failure.status_code, failure.code) == (status, code)
    assert failure.counts_against_breaker == (status != 429)


def test_a_429_carries_the_providers_retry_after(provider):
    provider.configure(rate_429=1.0, retry_after_s=3)
    assert call(provider).retry_after_s == pytest.approx(3.0, abs=0.01)


def test_timeouts_and_drops_are_retryable_but_of_unknown_cost(provider):
    provider.configure(rate_timeout=1.0, hang_s=30)
    timeout = call(provider, timeout=0.5)
    provider.configure(rate_timeout=0, rate_drop=1.0)
    dropped = call(provider)
    assert (timeout.outcome, timeout.code, timeout.retryable) == ("unknown", "timeout", True)
    assert (dropped.outcome, dropped.retryable) == ("unknown", True)


def test_content_policy_auth_and_missing_model_are_fatal(provider):
    policy = call(provider, prompt="a FORBIDDEN room")
    auth = call(provider, api_key="sk-invalid")
    missing = call(provider, model="does-not-exist")
    assert (policy.retryable, policy.code) == (False, "content_policy")
    assert "content policy" in policy.message
    assert (auth.retryable, auth.code, auth.status_code) == (False, "provider_auth", 401)
    assert (missing.retryable, missing.code, missing.status_code) == (False, "model_unavailable", 404)
    assert not any(f.counts_against_breaker for f in (policy, auth, missing))


def test_backoff_grows_with_jitter_and_honours_retry_after():
    rng = random.Random(1)
    first = [backoff_s(1, rng=rng) for _ in range(50)]
    third = [backoff_s(3, rng=rng) for _ in range(50)]
    assert max(first) <= 2.0 and min(first) >= 1.0
    assert min(third) >= 4.0 and max(third) <= 8.0
    assert len(set(first)) > 40  # jittered, not lock-step
    assert backoff_s(1, retry_after_s=9.5, rng=rng) >= 9.5
    assert backoff_s(30, rng=rng) <= settings.RETRY_MAX_DELAY_S


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        # No retry-after: the reset of whichever limit is exhausted, the longest if several are.
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "120ms"}, 0.12),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-images": "0",
                "x-ratelimit-reset-images": "6m0s",
            },
            360.0,
        ),
        ({"x-ratelimit-remaining-images": "0", "x-ratelimit-reset-images": "1h2m3.5s"}, 3723.5),
        # A limit with room left says nothing about waiting; junk is ignored.
        ({"x-ratelimit-remaining-requests": "4", "x-ratelimit-reset-requests": "2s"}, None),
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"}, None),
    ],
)
def test_the_wait_comes_from_retry_after_or_the_exhausted_limits_reset(headers, seconds):
    found = retry_after_from(httpx.Headers(headers))
    assert found == (pytest.approx(seconds) if seconds is not None else None)
