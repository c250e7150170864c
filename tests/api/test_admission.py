"""Load shedding at the door: a job that could not finish before its deadline is refused at once, not after it."""

from __future__ import annotations

import pytest

from billing.models import Account
from generation import estimates
from generation.models import Generation
from tests.support.api import client_for, upload_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_small_farm(one_slow_slot):
    """The fourth job in line would wait past the 35 s we hold a request."""
    one_slow_slot.ADMISSION_MAX_WAIT_S = 35


def post(client, room, prompt):
    return client.post(
        "/api/v1/generations/", {"room": room, "style": "modern", "quality": "low", "prompt": prompt}, format="json"
    )


def test_a_job_that_would_outwait_its_deadline_is_refused_and_costs_nothing(slow_small_farm, make_user):
    free = client_for(make_user("fay", tier="free"))
    room = upload_room(free).json()["id"]
    accepted = [post(free, room, f"job {i}") for i in range(3)]
    assert [r.status_code for r in accepted] == [202] * 3
    assert [r.json()["estimated_wait_s"] for r in accepted] == [10, 20, 30]
    account = Account.objects.get(user__username="fay")
    before = (Generation.objects.count(), account.reserved_usd, account.reserved_generations)

    refused = post(free, room, "one too many")

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "at_capacity"
    assert "nothing was charged" in refused.json()["error"]["message"]
    assert 1 <= int(refused["Retry-After"]) <= 3600
    account.refresh_from_db()
    assert (Generation.objects.count(), account.reserved_usd, account.reserved_generations) == before


def test_a_paid_tier_stands_ahead_of_the_free_backlog_and_is_still_accepted(slow_small_farm, make_user):
    free = client_for(make_user("fay", tier="free"))
    room = upload_room(free).json()["id"]
    for i in range(4):
        post(free, room, f"job {i}")
    business = client_for(make_user("bea", tier="business"))
    response = post(business, upload_room(business).json()["id"], "urgent")
    assert response.status_code == 202
    assert response.json()["position"] == 1


def test_a_free_job_is_refused_when_paid_jobs_arriving_meanwhile_would_take_its_turn(settings, make_user, monkeypatch):
    # Ten calls a minute; paid jobs arriving at eight a minute will keep cutting in ahead of a free job.
    settings.PROVIDER_RPM, settings.PROVIDER_IPM = 10, 0
    settings.RATE_LIMIT_WINDOW_S, settings.RATE_LIMIT_SAFETY_S = 60, 0
    settings.ADMISSION_ARRIVALS_WINDOW_S, settings.ADMISSION_MAX_WAIT_S = 60, 120
    settings.GENERATION_EXPECTED_S = 5.0
    monkeypatch.setattr(estimates, "_pace", (0.0, 0.0))  # no cached pace from an earlier test
    business = client_for(make_user("bea", tier="business"))
    paid_room = upload_room(business).json()["id"]
    assert all(post(business, paid_room, f"paid {i}").status_code == 202 for i in range(8))
    free = client_for(make_user("fay", tier="free"))

    refused = post(free, upload_room(free).json()["id"], "free one")

    # Eight ahead at ten a minute would be about 50 s; with eight more a minute cutting in, the line hardly moves.
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "at_capacity"
