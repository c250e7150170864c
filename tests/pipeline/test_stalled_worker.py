"""A worker that stalls (frozen, paused, waiting on a slow database) between booking and sending wakes up to find its
lease or its rate-limit slot may be gone: it then buys nothing, and the job goes on without it."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.ratelimit import Limits, RateLimiter
from core.redis import redis_client
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.queue import waiting
from generation.runtime import leases, pipeline
from tests.support.jobs import create, make_room

pytestmark = pytest.mark.django_db
WORKER = "w"


def claimed(user: Any) -> Generation:
    generation = leases.claim(str(create(user, make_room(user)).pk), WORKER)
    assert generation is not None
    return generation


def test_a_worker_whose_job_was_taken_over_records_no_call(alice):
    generation = claimed(alice)
    assert leases.start_call(generation, "sandbox", "gpt-image-1", owner="someone-else") is None
    # Its lease lapsed and nobody took the job yet: it is still this worker's, and the call renews the lease.
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.start_call(generation, "sandbox", "gpt-image-1", owner=WORKER) is not None
    generation.refresh_from_db()
    assert generation.lease_expires_at > timezone.now()
    # Taken over meanwhile (the sweep took it back, another worker claimed it): nothing is recorded.
    Generation.objects.filter(pk=generation.pk).update(lease_owner="the-new-worker")
    assert leases.start_call(generation, "sandbox", "gpt-image-1", owner=WORKER) is None
    assert ProviderCall.objects.filter(generation=generation).count() == 1


def lapsed_booking(name: str, rpm: int) -> tuple[RateLimiter, Any]:
    """A booking whose entries left a short window while its holder stalled."""
    limiter = RateLimiter(redis_client(), name, Limits(rpm=rpm, ipm=0), window_s=0.3)
    permit = limiter.acquire()
    assert permit.granted
    time.sleep(0.35)
    limiter.client.zremrangebyscore(limiter.keys[0], "-inf", "+inf")  # what the next acquire prunes by time
    return limiter, permit


def test_a_lapsed_slot_is_booked_again_while_the_window_has_room():
    limiter, permit = lapsed_booking("stall-room", rpm=2)
    assert limiter.confirm(permit)
    assert limiter.in_window()[0] == 1, "the request leaves counted"


def test_a_lapsed_slot_in_a_full_window_is_refused():
    limiter, permit = lapsed_booking("stall-full", rpm=1)
    assert limiter.acquire().granted  # somebody else took the window's only slot meanwhile
    assert not limiter.confirm(permit)
    assert limiter.in_window()[0] == 1, "nothing was added over the limit"


def test_a_job_whose_slot_lapsed_sends_nothing_and_waits_again(alice, provider, settings, transactional_db):
    settings.OPENAI_BASE_URL = provider.api_base
    generation = claimed(alice)
    limiter, permit = lapsed_booking("stall-job", rpm=1)
    assert limiter.acquire().granted
    leaving = functools.partial(pipeline.confirm_slot, limiter, permit)
    pipeline.call_provider(generation, targets()[0], WORKER, leaving)
    generation.refresh_from_db()
    assert provider.stats()["requests_total"] == 0, "no request left"
    assert not ProviderCall.objects.filter(generation=generation).exists(), "calls recorded == calls made"
    assert generation.attempts == 0
    assert generation.status == Generation.Status.QUEUED
    assert str(generation.pk) in waiting.parked_ids(redis_client()), "it waits in line for a new slot"
