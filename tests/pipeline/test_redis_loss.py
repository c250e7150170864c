"""Redis is a cache for work, not its record: losing it (or never reaching it) loses no job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from generation.models import Generation, ProviderCall
from tests.support.images import room_photo
from tests.support.stack import Beat, Web, Worker, stack_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.stack


@pytest.fixture
def stack_on(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Any]:
    started: list[Any] = []

    def start(redis_url: str) -> tuple[Web, Worker, Beat]:
        env = stack_env(provider, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url)
        web = Web(env, tmp_path / "web.log")
        started.append(web)
        worker = Worker(env, tmp_path / "worker.log")
        started.append(worker)
        worker.start()
        beat = Beat(env, tmp_path / "beat.log")
        started.append(beat)
        return web, worker, beat

    yield start
    for process in started:
        process.stop()


def session_for(web: Web, username: str) -> requests.Session:
    session = requests.Session()
    token = session.post(
        f"{web.url}/api/v1/auth/token/", json={"username": username, "password": "correct horse battery"}
    )
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    return session


def test_redis_restarted_under_load_every_job_still_finishes(stack_on, private_redis, provider, make_user):
    make_user("kate", tier="business")
    provider.configure(latency_s_min=0.5, latency_s_max=1.5)
    web, _, _ = stack_on(private_redis.url)
    kate = session_for(web, "kate")
    room = kate.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("r.jpg", room_photo(), "image/jpeg")},
        data={"room_type": "kitchen"},
    ).json()["id"]
    ids = [
        kate.post(
            f"{web.url}/api/v1/generations/",
            json={"room": room, "style": "coastal", "prompt": str(i), "quality": "low"},
        ).json()["id"]
        for i in range(16)
    ]
    wait_for(lambda: Generation.objects.filter(status="succeeded").count() >= 3, 30, what="some jobs to finish")
    private_redis.stop()  # every queued message, lock, window and enqueued mark is gone
    time.sleep(1.0)
    private_redis.start()
    wait_for(
        lambda: Generation.objects.filter(pk__in=ids, status__in=Generation.FINAL).count() == 16,
        90,
        0.25,
        "every job to reach a final state",
    )
    assert Generation.objects.filter(pk__in=ids, status="succeeded").count() == 16
    # Nothing ran twice: one successful call per job.
    assert ProviderCall.objects.filter(outcome="success").count() == 16


def test_a_job_created_while_redis_is_down_is_accepted_and_runs_later(stack_on, private_redis, provider, make_user):
    make_user("liam", tier="pro")
    web, _, _ = stack_on(private_redis.url)
    liam = session_for(web, "liam")
    room = liam.post(
        f"{web.url}/api/v1/rooms/", files={"photo": ("r.jpg", room_photo(), "image/jpeg")}, data={"room_type": "office"}
    ).json()["id"]
    private_redis.stop()
    started = time.monotonic()
    response = liam.post(f"{web.url}/api/v1/generations/", json={"room": room, "style": "industrial"})
    took = time.monotonic() - started
    assert response.status_code in (202, 503), response.text
    assert took < 10
    if response.status_code == 503:
        assert response.headers["Retry-After"] and Generation.objects.count() == 0
        return
    pk = response.json()["id"]
    assert Generation.objects.get(pk=pk).status == "queued"
    private_redis.start()
    generation = wait_for(lambda: (g := Generation.objects.get(pk=pk)).is_final and g, 60, 0.25, "the job to run")
    assert generation.status == "succeeded"
