"""The waiting room against real Redis and the real limiter: slots go to parked jobs by priority, then age."""

from __future__ import annotations

from typing import Any

import pytest

from core.ratelimit import permit_from_message, permit_to_message, wait_until
from core.redis import redis_client, server_time
from generation.provider.client import targets
from generation.provider.gates import limiter_for
from generation.queue import messages, waiting
from generation.queue.waiting import Parked
from generation.runtime import dispatcher
from generation.runtime.dispatcher import Dispatcher


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
    target, permit = permit_from_message(permit_to_message(third, "sandbox:gpt-image-1"))
    assert target == "sandbox:gpt-image-1" and permit.at == third.at
    # Measured on Redis's clock, whatever the clock of the host that reads it says.
    waiting_for = wait_until(permit, now)
    assert waiting_for is not None and 0 < waiting_for.wait_s <= third.wait_s + 0.01
    # Redelivered seconds after its slot (the worker holding it died): the job must ask the limiter again.
    assert wait_until(permit, third.at + 5) is None
