"""A worker changes only a job it holds: the fairness cap never takes back a job another worker has claimed."""

from __future__ import annotations

import pytest

from billing.services import set_tier
from core.redis import server_time
from generation.models import Generation
from generation.provider.client import targets
from generation.provider.gates import limiter_for
from generation.runtime import leases, pipeline
from tests.support.jobs import create, make_room

pytestmark = pytest.mark.django_db
Status = Generation.Status


def test_the_in_flight_cap_never_takes_back_a_job_another_worker_just_claimed(alice, monkeypatch):
    set_tier(alice, "free")
    generation = create(alice, make_room(alice))

    def another_worker_claims_it_meanwhile(owner_id: int) -> int:
        Generation.objects.filter(pk=generation.pk).update(status=Status.RUNNING, lease_owner="worker-b")
        return alice.account.tier.max_in_flight  # ...so this worker sees the user at their cap

    monkeypatch.setattr(leases, "running_jobs", another_worker_claims_it_meanwhile)
    assert leases.claim(str(generation.pk), "worker-a") is None
    held = Generation.objects.get(pk=generation.pk)
    assert held.status == Status.RUNNING and held.lease_owner == "worker-b"


def test_a_stale_booking_gives_its_slot_back(settings):
    settings.PROVIDER_RPM, settings.PROVIDER_IPM, settings.RATE_LIMIT_WINDOW_S = 2, 0, 60
    limiter = limiter_for(targets()[0])
    booked = limiter.acquire(1)
    assert limiter.in_window() == (1, 0)
    late = booked.__class__(True, 0.0, booked.token, booked.requests, booked.images, at=server_time() - 30)
    assert pipeline.use_booking(limiter, ("x", late)) is None
    assert limiter.in_window() == (0, 0), "the slot it booked is free again"
