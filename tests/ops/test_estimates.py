"""Estimated wait, computed from live queue depth, worker slots and measured durations, against what happened."""

from __future__ import annotations

import pytest

from generation.models import Generation
from tests.support.api import client_for, upload_room
from tests.support.waiting import wait_final

pytestmark = pytest.mark.stack


def test_the_estimated_wait_matches_a_known_load(worker_factory, provider, make_user):
    worker_factory(concurrency=2)
    provider.configure(latency_s_min=1.0, latency_s_max=1.0)
    user = make_user("quinn", tier="business")
    client = client_for(user)
    room = upload_room(client).json()["id"]

    def create(prompt: str) -> dict:
        response = client.post(
            "/api/v1/generations/", {"room": room, "style": "modern", "prompt": prompt}, format="json"
        )
        assert response.status_code == 202
        return response.json()

    for warmup in ("w1", "w2", "w3"):  # the average call duration is learned from real calls
        wait_final(create(warmup)["id"])
    accepted = [create(f"job {i}") for i in range(6)]
    errors = []
    for body in accepted:
        generation = wait_final(body["id"], 60)
        actual = (generation.finished_at - generation.created_at).total_seconds()
        errors.append(abs(body["estimated_wait_s"] - actual))
        assert body["position"] >= 1
    # Two slots, one-second calls: positions 1..6 finish after about 1, 1, 2, 2, 3, 3 seconds.
    positions = [b["position"] for b in accepted]
    assert positions[0] >= 1 and max(positions) > 1
    assert accepted[-1]["estimated_wait_s"] > accepted[0]["estimated_wait_s"]
    assert max(errors) <= 2.0, errors
    assert Generation.objects.filter(status="succeeded").count() == 9
