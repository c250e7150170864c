"""The shared circuit breaker against real Redis: open on failure rate, one probe, close on success."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.conf import settings

from core.breaker import BreakerPolicy, CircuitBreaker

POLICY = BreakerPolicy(window_s=10, min_calls=4, failure_rate=0.5, open_s=0.5, probe_lease_s=5)


@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(redis.Redis.from_url(settings.REDIS_URL), "b-test", POLICY)


def test_it_stays_closed_below_the_minimum_number_of_calls(breaker):
    for _ in range(3):
        breaker.record(False, "w")
    assert breaker.state() == "closed"
    assert breaker.allow("w").allowed


def test_it_opens_when_the_failure_rate_passes_the_threshold(breaker):
    for ok in (True, False, True, False):
        breaker.record(ok, "w")
    assert breaker.state() == "open"
    decision = breaker.allow("w")
    assert not decision.allowed and 0 < decision.wait_s <= 0.5


def test_a_healthy_mix_keeps_it_closed(breaker):
    for ok in (True, True, True, False, True, True):
        breaker.record(ok, "w")
    assert breaker.state() == "closed"


def test_half_open_lets_exactly_one_probe_through_across_workers(breaker):
    for _ in range(4):
        breaker.record(False, "w")
    time.sleep(0.6)
    results: list[str] = []
    lock = threading.Lock()

    def ask(holder: str) -> None:
        other = CircuitBreaker(redis.Redis.from_url(settings.REDIS_URL), "b-test", POLICY)
        state = other.allow(holder).state
        with lock:
            results.append(state)

    threads = [threading.Thread(target=ask, args=(f"worker-{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("probe") == 1
    assert results.count("half_open") == 19


def test_a_successful_probe_closes_it_and_a_failed_one_reopens_it(breaker):
    for _ in range(4):
        breaker.record(False, "w")
    time.sleep(0.6)
    assert breaker.allow("prober").state == "probe"
    assert breaker.record(False, "prober") == "open"
    assert breaker.state() == "open"
    time.sleep(0.6)
    assert breaker.allow("prober2").state == "probe"
    # Someone else's outcome while half-open does not count: only the probe decides.
    assert breaker.record(True, "bystander") == "ignored"
    assert breaker.record(True, "prober2") == "closed"
    assert breaker.state() == "closed" and breaker.allow("anyone").allowed


def test_a_released_probe_lease_lets_the_next_caller_probe(breaker):
    for _ in range(4):
        breaker.record(False, "w")
    time.sleep(0.6)
    assert breaker.allow("a").state == "probe"
    breaker.release_probe("a")
    assert breaker.allow("b").state == "probe"


def test_a_run_of_failures_opens_it_however_quiet_the_traffic():
    quiet = BreakerPolicy(window_s=10, min_calls=100, failure_rate=0.5, open_s=0.5, consecutive_failures=3)
    breaker = CircuitBreaker(redis.Redis.from_url(settings.REDIS_URL), "b-quiet", quiet)
    for ok in (False, False, True, False, False):
        breaker.record(ok, "w")
    assert breaker.state() == "closed", "a success in between starts the count again"
    breaker.record(False, "w")
    assert breaker.state() == "open"
