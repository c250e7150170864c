"""The waiting room against real Redis and the real limiter: slots go to parked jobs by priority, then age."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from billing.models import Tier
from core.ratelimit import permit_from_message, permit_to_message, wait_until
from core.redis import redis_client, server_time
from generation.models import Generation
from generation.provider.client import targets
from generation.provider.gates import limiter_for
from generation.queue import messages, waiting
from generation.queue.waiting import Parked
from generation.runtime import dispatcher, leases, pipeline
from generation.runtime.dispatcher import Dispatcher
from generation.runtime.sweeper import promote_long_waiting
from tests.support.jobs import submit


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any] | None]]:
    """What the dispatcher hands to Celery. Recorded instead of sent: no worker runs in these tests, and a real
    message would only be claimed by nobody. Everything before it (Redis, the Lua limiter) is real."""
    calls: list[tuple[str, dict[str, Any] | None]] = []

    def record(generation_id: Any, countdown: float = 0, *, queue: str | None = None, permit: Any = None) -> bool:
        calls.append((str(generation_id), permit))
        return True

    monkeypatch.setattr(messages, "dispatch", record)
    return calls


@pytest.fixture
def two_per_window(settings: Any) -> None:
    settings.PROVIDER_RPM = 2
    settings.PROVIDER_IPM = 0
    settings.RATE_LIMIT_WINDOW_S = 2.0
    settings.RATE_LIMIT_SAFETY_S = 0.0


def park(name: str, priority: int, *, ago: float = 1.0) -> str:
    waiting.park(name, priority=priority, images=1, queue="gen.standard", delay_s=-ago)
    return name


def test_free_slots_go_to_the_highest_priority_first_then_the_oldest(db, sent, two_per_window):
    park("free-old", 0, ago=5)
    park("pro-new", 10, ago=0.5)
    park("pro-old", 10, ago=3)

    Dispatcher("test").book()

    # Two slots in the window: both pro jobs, the older first; the free job waits for the next window.
    assert [pk for pk, _ in sent] == ["pro-old", "pro-new"]
    assert all(permit and permit["token"] for _, permit in sent)
    assert waiting.parked_ids(redis_client()) == {"free-old"}
    limiter = limiter_for(targets()[0])
    assert limiter.in_window()[0] == 2, "each sent job carries a slot booked in the shared limiter"


def test_a_job_not_yet_due_stays_parked(db, sent, two_per_window):
    waiting.park("later", priority=0, images=1, queue="gen.standard", delay_s=30)
    pause = Dispatcher("test").book()
    assert sent == [] and 0 < pause <= dispatcher.IDLE_S


def test_a_job_that_ended_while_parked_gets_no_slot(db, sent, two_per_window):
    park("cancelled", 0)
    waiting.unpark("cancelled", priority=0, images=1, queue="gen.standard")
    Dispatcher("test").book()
    assert sent == []


def test_only_one_dispatcher_leads_and_another_takes_over_when_it_stops(db):
    first, second = Dispatcher("a"), Dispatcher("b")
    assert first.leads() and not second.leads()
    redis_client().delete(dispatcher.LEADER)  # the leader died: its lease lapses
    assert second.leads() and not first.leads()


def test_a_refused_booking_is_released_so_the_slot_is_not_lost(db, two_per_window):
    limiter = limiter_for(targets()[0])
    permit = limiter.acquire()
    assert limiter.in_window()[0] == 1
    limiter.release(permit)
    assert limiter.in_window()[0] == 0


def test_parked_members_round_trip():
    job = Parked("0f8e", 3, "gen.priority")
    assert Parked.parse(job.member.encode()) == job


def test_a_booking_waits_for_its_slot_on_redis_clock_and_a_stale_one_is_refused(db, two_per_window):
    limiter = limiter_for(targets()[0])
    limiter.acquire(1)
    limiter.acquire(1)
    third = limiter.acquire(1, max_wait_s=5)  # the window is full: booked for when its first slot frees
    now = server_time()
    assert third.granted and 0 < third.wait_s <= 2 and abs(third.at - (now + third.wait_s)) < 0.5
    target, permit = permit_from_message(permit_to_message(third, "openai:gpt-image-1"))
    assert target == "openai:gpt-image-1" and permit.at == third.at
    # Measured on Redis's clock, whatever the clock of the host that reads it says.
    waiting_for = wait_until(permit, now)
    assert waiting_for is not None and 0 < waiting_for.wait_s <= third.wait_s + 0.01
    # Redelivered seconds after its slot (the worker holding it died): the job must ask the limiter again.
    assert wait_until(permit, third.at + 5) is None


def test_one_users_backlog_holds_back_anothers_first_job_by_at_most_one_slot(db, sent, two_per_window):
    pace = 1.0  # two slots per two-second window: one a second
    for index in range(50):
        waiting.park(f"hoard-{index}", priority=0, images=1, queue="gen.standard", delay_s=0, user_id=1, pace_s=pace)
    waiting.park("first", priority=0, images=1, queue="gen.standard", delay_s=0, user_id=2, pace_s=pace)

    Dispatcher("test").book()

    # Due now: the hoarder's first job and the newcomer's; the hoarder's 49 others wait their turns.
    assert sorted(generation_id for generation_id, _ in sent) == ["first", "hoard-0"]


def test_a_user_alone_is_not_held_back_by_the_turns(db, sent, settings):
    settings.PROVIDER_RPM, settings.PROVIDER_IPM = 0, 0  # no limit: no pace, every parked job is due at once
    for index in range(5):
        waiting.park(f"solo-{index}", priority=0, images=1, queue="gen.standard", delay_s=0, user_id=1, pace_s=0)
    Dispatcher("test").book()
    assert len(sent) == 5


def test_a_job_that_aged_into_a_tier_keeps_its_place_by_age_there(db, sent, two_per_window, make_user, settings):
    # Seen in `make bench` (burst-1000): free jobs accepted first aged up to the business level, but each step sent
    # them through a worker that parked them again at the back of the new level, behind every business job parked
    # since; they never got a slot and failed on their deadline, while business jobs accepted after them succeeded.
    by_tier = {t.slug: t for t in Tier.objects.all()}
    (old,) = submit(make_user("fern"), 1)
    long_ago = timezone.now() - timedelta(seconds=settings.PRIORITY_AGING_S + 1)
    Generation.objects.filter(pk=old).update(created_at=long_ago)
    free = by_tier["free"]
    waiting.park(old, priority=free.priority, images=1, queue=free.queue, delay_s=-(settings.PRIORITY_AGING_S + 1))
    park("pro-fresh", by_tier["pro"].priority, ago=0.5)
    sent.clear()

    assert promote_long_waiting() == 1
    assert Generation.objects.get(pk=old).priority == by_tier["pro"].priority
    Dispatcher("test").book()

    booked = [pk for pk, permit in sent if permit]
    assert booked[:1] == [str(old)], "it waited longest at its new level: the first slot is its own"
    assert len(sent) == len(booked), "it moved up where it waits: no copy of it went through a worker to be parked"


def booked_after_it_comes_back(
    pk: Any, sent: list[Any], capture: Any, booked: tuple[str, Any] | None = None
) -> list[str]:
    """The job is claimed again while a job parked after it came in waits in its tier, so it must park too (with
    `booked`, the slot the dispatcher had given it). Returns the jobs the dispatcher then books a slot for, in order."""
    free = Tier.objects.get(slug="free")
    park("came-later", free.priority, ago=5)  # parked after the job came in, and due
    generation = leases.claim(str(pk), "w")
    assert generation is not None
    with capture(execute=True):
        pipeline.admit(generation, "w", booked)
    assert str(pk) in waiting.parked_ids(redis_client())
    Dispatcher("test").book()
    return [job for job, permit in sent if permit]


def test_a_job_whose_call_failed_waits_again_in_its_old_place_not_at_the_back(
    db, sent, two_per_window, make_user, django_capture_on_commit_callbacks
):
    # Seen in `make bench` (burst-1000, after the aging fix): every remaining deadline miss was a job whose first call
    # failed on a fault; its retry queued behind every job parked since, and the line was longer than its deadline.
    (pk,) = submit(make_user("rory"), 1)
    Generation.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(seconds=20), attempts=1)
    sent.clear()

    booked = booked_after_it_comes_back(pk, sent, django_capture_on_commit_callbacks)
    assert booked[:1] == [str(pk)], "the retry stood in line before the job parked after it"


def test_a_job_whose_booked_slot_lapsed_before_a_worker_took_it_waits_again_in_its_old_place(
    db, sent, two_per_window, make_user, django_capture_on_commit_callbacks
):
    # Seen in `make bench` (burst-1000 on a busy 2-core machine): the first job accepted was booked a slot at the
    # front of the line, its message reached a worker after the slot had gone, and it parked again at the back,
    # behind 30 s of jobs: it failed on its deadline without ever making a call.
    (pk,) = submit(make_user("rory"), 1)
    long_ago = timezone.now() - timedelta(seconds=20)
    Generation.objects.filter(pk=pk).update(created_at=long_ago, started_at=long_ago)  # claimed once, and parked
    sent.clear()
    lapsed = replace(limiter_for(targets()[0]).acquire(1), at=server_time() - 30)  # the booking is gone

    booked = booked_after_it_comes_back(pk, sent, django_capture_on_commit_callbacks, (targets()[0].name, lapsed))
    assert Generation.objects.get(pk=pk).attempts == 0
    assert booked[:1] == [str(pk)], "it stood in line before the job parked after it"
