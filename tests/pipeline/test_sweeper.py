"""The sweeper takes back only what it saw lapse, one sweep at a time, and misses no lost job however many wait.

Found by reading the code (the multi-host issue): a takeover that matched any running row could take back a job a
live worker had just claimed or renewed, and mark its live call unknown, so the job would be bought twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from core.redis import redis_client
from generation import finish
from generation.models import Generation, ProviderCall
from generation.queue import messages, waiting
from generation.runtime import leases, sweeper
from tests.support.jobs import create, make_room

pytestmark = pytest.mark.django_db
Status = Generation.Status


def lapsed_call(user: Any, worker: str = "frozen") -> Generation:
    """A job whose worker started its call and then stopped renewing its lease."""
    generation = leases.claim(str(create(user, make_room(user)).pk), worker)
    assert generation is not None
    leases.start_call(generation, "sandbox", "gpt-image-1")
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    return Generation.objects.get(pk=generation.pk)


def test_a_takeover_leaves_alone_a_job_whose_lease_was_renewed_since_the_sweep_read_it(alice):
    seen = lapsed_call(alice)
    # Between the sweep's read and its write, the worker wakes up and renews (or another claims it again).
    assert leases.renew_lease(seen, "frozen")
    assert not sweeper.recover(seen, reason="worker lost", expect=sweeper.as_seen(seen))
    generation = Generation.objects.get(pk=seen.pk)
    assert generation.status == Status.RUNNING and generation.lease_owner == "frozen"
    assert ProviderCall.objects.get(generation=seen).outcome == ProviderCall.Outcome.IN_FLIGHT, "its call is live"


def test_an_expiry_leaves_alone_a_job_a_live_worker_holds_again(alice):
    seen = lapsed_call(alice)
    Generation.objects.filter(pk=seen.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    seen.refresh_from_db()
    assert leases.renew_lease(seen, "frozen")
    assert not finish.expire(seen, expect=sweeper.as_seen(seen))
    assert Generation.objects.get(pk=seen.pk).status == Status.RUNNING


def test_a_lapsed_lease_is_taken_back_and_its_call_closed_as_unknown(alice):
    seen = lapsed_call(alice)
    assert sweeper.recover_dead_workers() == 1
    generation = Generation.objects.get(pk=seen.pk)
    assert generation.status == Status.QUEUED and generation.lease_owner == ""
    assert ProviderCall.objects.get(generation=seen).outcome == ProviderCall.Outcome.UNKNOWN


def test_two_sweeps_never_run_at_once(alice):
    lapsed_call(alice)
    redis_client().set(sweeper.LOCK, "another host's sweep", px=10_000)
    assert sweeper.sweep() == {}
    assert Generation.objects.filter(status=Status.RUNNING).count() == 1, "the locked-out sweep changed nothing"
    redis_client().delete(sweeper.LOCK)
    assert sweeper.sweep()["recovered"] == 1


def test_a_lost_job_is_sent_again_however_many_jobs_wait_in_the_waiting_room(alice, monkeypatch):
    lost = create(alice, make_room(alice))
    stale = Now() - timedelta(seconds=600)
    # More parked jobs than one sweep's batch, all newer than the lost one (rows as the database holds them).
    parked = Generation.objects.bulk_create(
        [
            Generation(
                owner=alice, room=lost.room, style="modern", room_type="living_room", deadline_at=lost.deadline_at
            )
            for _ in range(sweeper.BATCH + 20)
        ]
    )
    Generation.objects.update(dispatched_at=stale, created_at=stale)
    Generation.objects.filter(pk=lost.pk).update(created_at=Now() - timedelta(seconds=900))  # the oldest
    for generation in parked:
        waiting.park(generation.pk, priority=generation.priority, images=1, queue=generation.queue, delay_s=60)
    sent: list[str] = []
    monkeypatch.setattr(messages, "dispatch", lambda pk, *a, **k: sent.append(str(pk)) or True)
    assert sweeper.redispatch_lost() == 1
    assert sent == [str(lost.pk)]


def test_followers_of_a_leader_that_ended_are_settled_even_if_its_process_died(alice):
    room = make_room(alice)
    leader = create(alice, room, prompt="boucle sofa")
    follower = create(alice, room, prompt="boucle sofa")
    assert follower.cached_from_id == leader.pk
    # The leader's row says it failed, but the process died before its after-commit work ran.
    Generation.objects.filter(pk=leader.pk).update(status=Status.FAILED)
    assert Generation.objects.get(pk=follower.pk).cached_from_id == leader.pk
    assert sweeper.finish_orphaned_followers() == 1
    promoted = Generation.objects.get(pk=follower.pk)
    assert promoted.status == Status.QUEUED and promoted.cached_from_id is None, "it now runs on its own"
