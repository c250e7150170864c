"""Rate limits, injected faults, hangs, drops, outages and latency, seen through the SDK."""

from __future__ import annotations

import asyncio
import re
import time

import openai
import pytest

from sandbox.testing import SandboxHandle

DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


def generate(client: openai.OpenAI, n: int = 1) -> object:
    # dall-e-2 at 256x256 renders in milliseconds, which keeps these tests fast.
    return client.images.generate(prompt="a room", model="dall-e-2", size="256x256", response_format="b64_json", n=n)


def test_rpm_limit_answers_429_with_retry_after_and_ratelimit_headers(
    sandbox: SandboxHandle, client: openai.OpenAI
) -> None:
    sandbox.configure(rpm=2)
    first = client.images.with_raw_response.generate(prompt="a room", model="dall-e-2", size="256x256")
    generate(client)

    with pytest.raises(openai.RateLimitError) as caught:
        generate(client)

    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert DURATION.match(first.headers["x-ratelimit-reset-requests"])
    headers = caught.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert DURATION.match(headers["x-ratelimit-reset-requests"])
    assert (caught.value.code, caught.value.type) == ("rate_limit_exceeded", "requests")


def test_ipm_limit_counts_images_not_requests(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(ipm=3)
    generate(client, n=2)

    with pytest.raises(openai.RateLimitError) as caught:
        generate(client, n=2)
    generate(client, n=1)

    headers = caught.value.response.headers
    assert headers["x-ratelimit-limit-images"] == "3"
    assert headers["x-ratelimit-remaining-images"] == "1"
    assert int(headers["retry-after"]) >= 1
    assert sandbox.stats()["by_status"] == {"200": 2, "429": 1}


@pytest.mark.parametrize(
    ("key", "exception", "status"),
    [
        ("rate_429", openai.RateLimitError, 429),
        ("rate_500", openai.InternalServerError, 500),
        ("rate_503", openai.InternalServerError, 503),
    ],
)
def test_injected_errors_raise_the_matching_sdk_exception(
    sandbox: SandboxHandle, client: openai.OpenAI, key: str, exception: type[openai.APIStatusError], status: int
) -> None:
    sandbox.configure(**{key: 1.0})

    with pytest.raises(exception) as caught:
        generate(client)

    assert caught.value.status_code == status
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "1"


def test_early_faults_answer_before_the_latency_and_late_ones_after(
    sandbox: SandboxHandle, client: openai.OpenAI
) -> None:
    sandbox.configure(latency_s_min=0.4, latency_s_max=0.4, rate_429=1.0)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        generate(client)
    early = time.monotonic() - started

    sandbox.configure(rate_429=0.0, rate_500=1.0)
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        generate(client)
    late = time.monotonic() - started

    assert early < 0.3 <= 0.4 <= late


def test_a_dropped_connection_is_a_connection_error(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(rate_drop=1.0)

    with pytest.raises(openai.APIConnectionError) as caught:
        generate(client)

    assert not isinstance(caught.value, openai.APITimeoutError)
    stats = sandbox.stats()
    assert (stats["requests_total"], stats["dropped_total"], stats["by_status"]) == (1, 1, {})
    assert sandbox.requests(1)[0]["outcome"] == "dropped"


def test_a_hang_times_out_the_client_and_ends_when_it_hangs_up(sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_timeout=1.0)
    client = openai.OpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0, timeout=1)

    with pytest.raises(openai.APITimeoutError):
        generate(client)

    deadline = time.monotonic() + 3
    while sandbox.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = sandbox.stats()
    assert (stats["requests_total"], stats["timeouts_total"], stats["in_flight"]) == (1, 1, 0)
    assert sandbox.requests(1)[0]["outcome"] == "timeout"


def test_a_short_hang_ends_in_a_slow_success(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(rate_timeout=1.0, hang_s=0.3)
    started = time.monotonic()

    generate(client)

    assert time.monotonic() - started >= 0.3


def test_an_outage_answers_503_to_every_request(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(outage=True)

    with pytest.raises(openai.InternalServerError) as caught:
        generate(client)
    with pytest.raises(openai.InternalServerError):
        client.images.edit(image=("room.png", b"not even an image", "image/png"), prompt="x")

    assert caught.value.status_code == 503
    assert sandbox.stats()["by_status"] == {"503": 2}


def test_latency_stays_within_the_configured_range(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(latency_s_min=0.2, latency_s_max=0.3, latency_dist="triangular")
    started = time.monotonic()

    generate(client)

    assert 0.2 <= time.monotonic() - started < 1.0


async def test_many_concurrent_requests_are_served_in_parallel(sandbox: SandboxHandle) -> None:
    sandbox.configure(latency_s_min=0.5, latency_s_max=0.5)
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0, timeout=20)
    calls = [
        client.images.generate(prompt=f"room {i}", model="dall-e-2", size="256x256", response_format="b64_json")
        for i in range(100)
    ]
    started = time.monotonic()

    results = await asyncio.gather(*calls)

    assert len(results) == 100
    assert time.monotonic() - started < 5
    stats = sandbox.stats()
    assert stats["max_in_flight"] >= 50
    assert (stats["requests_total"], stats["images_total"], stats["in_flight"]) == (100, 100, 0)
    await client.close()
