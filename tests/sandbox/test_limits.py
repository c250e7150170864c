"""The sliding-window limiter and OpenAI's duration format."""

from __future__ import annotations

import pytest

from sandbox.limits import RateLimiter, format_duration, retry_after_headers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.12, "120ms"), (1, "1s"), (17.5, "17.5s"), (360, "6m0s"), (3723.25, "1h2m3.25s")],
)
def test_durations_look_like_openai_headers(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_retry_after_is_a_whole_number_of_seconds_at_least_one() -> None:
    assert retry_after_headers(0.2) == {"retry-after": "1", "retry-after-ms": "200"}
    assert retry_after_headers(12.3)["retry-after"] == "13"


def test_requests_over_the_limit_wait_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.acquire(rpm=2, ipm=0, images=1).allowed
    clock.now += 10
    assert limiter.acquire(rpm=2, ipm=0, images=1).allowed

    refused = limiter.acquire(rpm=2, ipm=0, images=1)

    assert (refused.allowed, refused.exceeded, refused.retry_after_s) == (False, "requests", 50)
    clock.now += 50
    assert limiter.acquire(rpm=2, ipm=0, images=1).allowed


def test_a_request_is_counted_when_it_arrived_not_when_its_upload_was_read() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.acquire(rpm=1, ipm=0, images=1).allowed
    # The next request reached the server exactly a window later, but its body took 0.3 s to read.
    arrived = clock.now + 60
    clock.now = arrived + 0.3
    assert limiter.acquire(rpm=1, ipm=0, images=1, arrived=arrived).allowed
    # Booked at its arrival, it leaves the window 0.3 s before "now + 60".
    clock.now = arrived + 60
    assert limiter.acquire(rpm=1, ipm=0, images=1).allowed


def test_a_late_booking_of_an_earlier_arrival_keeps_the_window_in_time_order() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.acquire(rpm=3, ipm=0, images=1)  # at 1000
    clock.now = 1010
    limiter.acquire(rpm=3, ipm=0, images=1)  # at 1010
    limiter.acquire(rpm=3, ipm=0, images=1, arrived=1005)  # arrived before the one at 1010, read after it

    refused = limiter.acquire(rpm=3, ipm=0, images=1)

    # The oldest leaves at 1060: the wait follows time order, not booking order.
    assert refused.retry_after_s == 50
    clock.now = 1060
    assert limiter.acquire(rpm=3, ipm=0, images=1).allowed
    assert not limiter.acquire(rpm=3, ipm=0, images=1).allowed
    clock.now = 1065
    assert limiter.acquire(rpm=3, ipm=0, images=1).allowed


def test_images_wait_until_enough_images_have_left_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.acquire(rpm=0, ipm=5, images=2)
    clock.now += 20
    limiter.acquire(rpm=0, ipm=5, images=3)

    refused = limiter.acquire(rpm=0, ipm=5, images=4)

    assert (refused.exceeded, refused.retry_after_s) == ("images", 60)
    assert refused.headers["x-ratelimit-remaining-images"] == "0"


def test_a_refused_request_spends_nothing() -> None:
    limiter = RateLimiter(Clock())
    limiter.acquire(rpm=1, ipm=0, images=1)

    for _ in range(3):
        limiter.acquire(rpm=1, ipm=0, images=1)

    assert limiter.requests.used(Clock()()) == 1


def test_unlimited_sends_no_ratelimit_headers() -> None:
    assert RateLimiter(Clock()).acquire(rpm=0, ipm=0, images=3).headers == {}
