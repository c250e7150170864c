"""Ops can see the system: /metrics agrees with the database, /readyz names what is down, logs carry the request id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Permission

from generation.models import Generation, ProviderCall
from tests.support.images import room_photo
from tests.support.jobs import submit
from tests.support.stack import Web, Worker, stack_env
from tests.support.waiting import wait_final, wait_for

pytestmark = pytest.mark.stack
TOKEN = "ops-scraper-token"
OPS = {"Authorization": f"Bearer {TOKEN}"}  # /readyz shows its detail to ops only


def scrape(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    samples = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_after_real_generations_and_injected_failures_match_the_database(
    worker, provider, make_user, client, django_user_model
):
    user = make_user("ops-user", tier="business")
    staff = django_user_model.objects.create_user("staff", password="x" * 12, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_metrics"))
    client.force_login(staff)
    ok = submit(user, 3)
    provider.configure(rate_500=1.0)
    provider.configure(rate_500=0.0, outage=False)
    doomed = submit(user, 1, prompt="FORBIDDEN please")
    for pk in ok + doomed:
        wait_final(pk, 60)
    samples = scrape(client)
    assert samples['interiorai_generations_finished_total{status="succeeded"}'] == 3
    assert samples['interiorai_generations_finished_total{status="failed"}'] == 1
    assert samples['interiorai_generations{error_code="content_policy",status="failed"}'] == 1
    assert samples["interiorai_generation_duration_seconds_count"] == 3
    assert samples['interiorai_generation_duration_seconds_bucket{le="+Inf"}'] == 3
    calls = {k: v for k, v in samples.items() if k.startswith("interiorai_provider_calls_total")}
    assert sum(calls.values()) == ProviderCall.objects.count() == provider.stats()["requests_total"]
    assert any('status_code="400"' in k and 'outcome="fatal"' in k for k in calls)
    charged = sum(float(g.cost_usd) for g in Generation.objects.all())
    assert samples['interiorai_cost_usd_total{kind="charged"}'] == pytest.approx(charged)
    assert samples['interiorai_reservations_outstanding{unit="usd"}'] == 0
    assert 'interiorai_queue_depth{queue="gen.priority"}' in samples
    assert samples['interiorai_breaker_state{target="openai:gpt-image-1"}'] == 0


def test_metrics_need_the_permission_or_the_token(client, settings, alice):
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    client.force_login(alice)
    assert client.get("/metrics").status_code == 403
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    assert client.get("/metrics").status_code == 403, "staff status alone is not enough"
    alice.user_permissions.add(Permission.objects.get(codename="view_metrics"))
    assert client.get("/metrics").status_code == 200
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").status_code == 200


def test_readyz_names_redis_when_it_stops_and_recovers_when_it_returns(
    provider, private_redis, tmp_path, transactional_db
):
    env = stack_env(provider, REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url, METRICS_TOKEN=TOKEN)
    web = Web(env, tmp_path / "web.log")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        ready = requests.get(web.url + "/readyz", headers=OPS, timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}
        private_redis.stop()
        down = requests.get(web.url + "/readyz", headers=OPS, timeout=10)
        assert down.status_code == 503 and "redis" in down.json()["failed"]
        assert down.headers["Retry-After"]
        assert requests.get(web.url + "/healthz", timeout=5).status_code == 200
        private_redis.start()
        wait_for(
            lambda: requests.get(web.url + "/readyz", headers=OPS, timeout=10).status_code == 200, 40, 0.5, "readiness"
        )
    finally:
        worker.stop()
        web.stop()


def test_readyz_says_when_no_worker_is_running(provider, private_redis, tmp_path, transactional_db):
    web = Web(stack_env(provider, REDIS_URL=private_redis.url, METRICS_TOKEN=TOKEN), tmp_path / "web.log")
    try:
        response = requests.get(web.url + "/readyz", headers=OPS, timeout=10)
        assert response.status_code == 503 and response.json()["failed"] == ["workers"]
    finally:
        web.stop()


def test_the_request_id_follows_the_job_into_the_worker_and_no_secret_is_logged(
    web, worker_factory, provider, make_user, tmp_path
):
    worker = worker_factory(OPENAI_API_KEY="", SECRET_KEY="do-not-log-me-please")
    make_user("rita")
    session = requests.Session()
    token = session.post(
        f"{web.url}/api/v1/auth/token/", json={"username": "rita", "password": "correct horse battery"}
    )
    session.headers["Authorization"] = f"Token {token.json()['token']}"

    room = session.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("r.jpg", room_photo(), "image/jpeg")},
        data={"room_type": "bedroom"},
    ).json()
    created = session.post(
        f"{web.url}/api/v1/generations/",
        json={"room": room["id"], "style": "modern", "prompt": "my secret plans for a reading nook"},
        headers={"X-Request-ID": "req-trace-12345"},
    )
    assert created.headers["X-Request-ID"] == "req-trace-12345"
    wait_final(created.json()["id"], 60)
    log = Path(worker.log_path).read_text()
    lines = [line for line in log.splitlines() if created.json()["id"] in line]
    assert lines and all("request_id=req-trace-12345" in line for line in lines if "generation" in line)
    assert re.search(r"provider call end .*attempt=1", log)
    assert "my secret plans" not in log and "do-not-log-me-please" not in log
