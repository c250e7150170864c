"""At capacity a job may wait in the slow lane instead of a 503: behind everyone, deadline of hours, told honestly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.redis import redis_client
from generation.models import Generation
from generation.queue import messages, waiting
from generation.runtime.dispatcher import Dispatcher
from generation.runtime.sweeper import promote_long_waiting
from tests.support.api import client_for, upload_room
from tests.support.jobs import succeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def full(one_slow_slot):
    """One slot, 10 s calls: the third job in line would wait past the 25 s we hold a request."""
    one_slow_slot.ADMISSION_MAX_WAIT_S = 25
    one_slow_slot.SLOW_LANE_DEADLINE_S, one_slow_slot.SLOW_LANE_MAX_WAIT_S = 6 * 3600, 4 * 3600


def post(client, room, **fields):
    body = {"room": room, "style": "modern", "quality": "low", **fields}
    return client.post("/api/v1/generations/", body, format="json")


def behind_two(make_user, **fields) -> Generation:
    """A free user's two jobs fill the line; the third, asked into the slow lane, is returned."""
    client = client_for(make_user("fay", tier="free"))
    room = upload_room(client).json()["id"]
    for i in range(2):
        post(client, room, prompt=f"job {i}")
    body = post(client, room, prompt="late", accept_slow=True, **fields).json()
    return Generation.objects.get(pk=body["id"])


def test_at_capacity_the_refusal_offers_the_slow_lane_and_taking_it_queues_the_job(full, make_user):
    client = client_for(make_user("fay", tier="free"))
    room = upload_room(client).json()["id"]
    assert [post(client, room, prompt=f"job {i}").status_code for i in range(2)] == [202, 202]

    refused = post(client, room, prompt="one more")
    assert refused.status_code == 503
    offer = refused.json()["error"]["slow_lane"]
    assert offer["estimated_wait_s"] > 25 and offer["deadline_s"] == 6 * 3600
    assert "slow lane" in refused.json()["error"]["message"]

    accepted = post(client, room, prompt="one more", accept_slow=True, notify_email=True)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["lane"] == "slow" and body["status"] == "queued"
    generation = Generation.objects.get(pk=body["id"])
    assert generation.deadline_at - generation.created_at > timedelta(hours=5)


def test_a_slow_job_gets_only_the_slots_nobody_else_waits_for(full, settings, monkeypatch, make_user):
    settings.PROVIDER_RPM, settings.RATE_LIMIT_WINDOW_S, settings.RATE_LIMIT_SAFETY_S = 1, 60, 0
    sent: list[str] = []
    monkeypatch.setattr(messages, "dispatch", lambda pk, *a, **k: sent.append(str(pk)) or True)
    waiting.park("slow-1", priority=0, images=1, queue="gen.standard", delay_s=-5, slow=True)
    waiting.park("free-1", priority=0, images=1, queue="gen.standard", delay_s=0)
    Dispatcher("test").book()
    assert sent == ["free-1"], "one slot in the window: the standard job takes it, however long the slow one waited"
    assert waiting.waiting_ahead(0, 1, slow=True), "and the slow job still waits"
    sent.clear()
    for key in redis_client().scan_iter(match="rl:*"):  # a new window
        redis_client().delete(key)
    Dispatcher("test").book()
    assert sent == ["slow-1"], "with nobody else waiting, the slow job rides in the gap"


def test_a_standard_job_never_waits_behind_a_parked_slow_one(full):
    waiting.park("slow-1", priority=0, images=1, queue="gen.standard", delay_s=-5, slow=True)
    assert not waiting.waiting_ahead(0, 1), "a standard job of the lowest tier sees nobody ahead of it"


def test_the_owner_is_emailed_when_a_slow_job_they_asked_about_is_done(
    full, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    generation = behind_two(make_user, notify_email=True)
    Generation.objects.filter(pk=generation.pk).update(deadline_at=timezone.now() + timedelta(hours=6))
    with django_capture_on_commit_callbacks(execute=True):
        succeed(generation)
    assert [m.subject for m in mailoutbox] == ["Your redesign is ready"]
    assert f"/generations/{generation.pk}/" in mailoutbox[0].body


def test_a_slow_job_never_ages_into_a_tier_nor_leaves_its_place_in_the_waiting_room(
    full, settings, monkeypatch, make_user
):
    # Seen in `make bench` (steady-1000 with the slow lane): every slow job that waited PRIORITY_AGING_S was moved
    # up a tier, into the paid queue, taken out of the waiting room and sent to a worker that parked it again, over
    # and over: a worker claim and a page update per slow job every few seconds (WebSocket P95 1066 ms, 43 ms after).
    generation = behind_two(make_user)
    waiting.park(
        str(generation.pk), priority=generation.priority, images=1, queue=generation.queue, delay_s=60, slow=True
    )
    long_ago = timezone.now() - timedelta(seconds=settings.PRIORITY_AGING_S * 3)
    Generation.objects.filter(lane=Generation.Lane.SLOW).update(created_at=long_ago)
    sent: list[str] = []
    monkeypatch.setattr(messages, "dispatch", lambda pk, *a, **k: sent.append(str(pk)) or True)

    promote_long_waiting()

    after = Generation.objects.get(pk=generation.pk)
    assert (after.priority, after.queue) == (generation.priority, generation.queue)
    assert str(generation.pk) not in sent
    assert str(generation.pk) in waiting.parked_ids(redis_client())
