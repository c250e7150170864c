"""The room page turns a refusal at capacity into an offer: the slow lane, its honest wait, an email when done."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation import estimates
from generation.models import Generation
from generation.rooms import create_room
from tests.support.images import room_photo

pytestmark = pytest.mark.django_db


def test_at_capacity_the_room_page_offers_the_slow_lane_and_the_job_page_says_where_it_waits(
    alice: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WORKER_CONCURRENCY, settings.GENERATION_EXPECTED_S = 1, 10.0
    settings.PROVIDER_RPM = settings.PROVIDER_IPM = 0
    settings.ADMISSION_MAX_WAIT_S = 15  # the second job in line would wait 20 s
    monkeypatch.setattr(estimates, "_slots", (0.0, 0))
    client = Client()
    client.force_login(alice)
    room = create_room(alice, name="Lounge", room_type="living_room", photo_bytes=room_photo())
    form = {"style": "modern", "room_type": "living_room", "quality": "low", "prompt": "first"}
    assert client.post(f"/rooms/{room.pk}/", form).status_code == 302

    refused = client.post(f"/rooms/{room.pk}/", {**form, "prompt": "second"})
    assert refused.status_code == 503
    page = refused.content.decode()
    assert 'data-testid="slow-lane"' in page and "Wait in the slow lane" in page and "ready in about" in page

    accepted = client.post(
        f"/rooms/{room.pk}/", {**form, "prompt": "second", "accept_slow": "on", "notify_email": "on"}
    )
    assert accepted.status_code == 302
    generation = Generation.objects.get(prompt="second")
    assert generation.lane == "slow" and generation.notify_email
    detail = client.get(accepted["Location"]).content.decode()
    assert 'data-testid="lane"' in detail and "we will email you" in detail
