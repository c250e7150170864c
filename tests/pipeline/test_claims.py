"""A worker changes only a job it holds: the fairness cap never takes back a job another worker has claimed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection
from django.db.models.functions import Now

from billing.models import Account
from billing.services import set_tier
from core.redis import server_time
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.provider.gates import limiter_for
from generation.runtime import leases, pipeline
from tests.support.concurrency import all_at_once
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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="claims racing on row counts need PostgreSQL; CI runs it")
@pytest.mark.django_db(transaction=True)
def test_workers_claiming_one_users_jobs_at_the_same_moment_start_no_more_than_the_cap(make_user):
    # Found by CI: with 8 worker threads the provider saw 6 calls at once from a pro user (cap 5); two workers had
    # each counted 4 running jobs, then both claimed one.
    user = make_user("hugo", tier="pro")
    cap = Account.objects.get(user=user).tier.max_in_flight
    room = make_room(user)
    jobs = [create(user, room, prompt=f"job {index}") for index in range(3 * cap)]  # distinct: none is a cache copy
    claims = all_at_once(len(jobs), lambda index: leases.claim(str(jobs[index].pk), f"worker-{index}"))
    claimed = [generation for generation in claims if generation is not None]
    assert len(claimed) == cap
    assert Generation.objects.filter(owner=user, status=Status.RUNNING).count() == cap


def test_a_stale_booking_gives_its_slot_back(settings):
    settings.PROVIDER_RPM, settings.PROVIDER_IPM, settings.RATE_LIMIT_WINDOW_S = 2, 0, 60
    limiter = limiter_for(targets()[0])
    booked = limiter.acquire(1)
    assert limiter.in_window() == (1, 0)
    late = replace(booked, at=server_time() - 30)
    assert pipeline.use_booking(limiter, ("x", late)) is None
    assert limiter.in_window() == (0, 0), "the slot it booked is free again"


def test_a_worker_whose_job_was_taken_over_before_its_call_sends_none(alice):
    # Found by the chaos runs (S3 down): a worker held up reading the photo outlived its lease, the sweeper gave the
    # job to another worker, and both paid the provider for it; the first one's result was thrown away.
    generation = create(alice, make_room(alice))
    mine = leases.claim(str(generation.pk), "worker-a")
    Generation.objects.filter(pk=generation.pk).update(lease_owner="worker-b")  # taken back and claimed meanwhile

    assert leases.start_call(mine, "sandbox", "gpt-image-1", owner="worker-a") is None
    assert not ProviderCall.objects.filter(generation=generation).exists()
    assert leases.start_call(mine, "sandbox", "gpt-image-1", owner="worker-b") is not None


def test_recording_the_call_gives_its_worker_a_whole_lease(alice, settings):
    generation = create(alice, make_room(alice))
    mine = leases.claim(str(generation.pk), "worker-a")
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=Now())  # about to lapse, nobody took it yet

    assert leases.start_call(mine, "sandbox", "gpt-image-1", owner="worker-a") is not None
    held = Generation.objects.annotate(db_now=Now()).get(pk=generation.pk)
    assert (held.lease_expires_at - held.db_now).total_seconds() > settings.GENERATION_LEASE_S - 1
