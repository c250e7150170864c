"""Free work is rate-limited, and slow webhook receivers cannot slow anyone's generations."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from developers import conf, webhooks
from developers.models import WebhookDelivery, WebhookEndpoint
from developers.tokens import create_token
from generation.models import Generation
from harness import roles
from tests.support.api import client_for, upload_room
from tests.support.jobs import end_generation, start_generation, succeed
from tests.support.stack import Web, stack_env
from tests.support.waiting import wait_final, wait_for
from tests.support.webhooks import Receiver, register, start_receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def work_rate(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "work": "4/min"},
    }


@pytest.fixture
def slow_receivers(settings: Any) -> Any:
    receivers = [start_receiver(Receiver) for _ in range(10)]
    settings.WEBHOOK_ALLOWLIST = [receiver.hostport for receiver in receivers]
    yield receivers
    for receiver in receivers:
        receiver.close()


@pytest.mark.django_db
def test_cache_hits_cancels_and_replays_count_against_the_rate_of_creates(work_rate, alice, receiver):
    api = client_for(alice)
    register(api, receiver.url)
    room = upload_room(api).json()["id"]
    body = {"room": room, "style": "modern", "quality": "low"}
    first = api.post("/api/v1/generations/", body, format="json").json()
    succeed(Generation.objects.get(pk=first["id"]))
    hit = api.post("/api/v1/generations/", body, format="json")  # free: served from the cache
    assert hit.status_code == 202 and hit.json()["cached"]
    assert api.post(f"/api/v1/generations/{hit.json()['id']}/cancel/").status_code == 409  # free, and counted
    delivery = WebhookDelivery.objects.filter(status="pending").first()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="succeeded")
    assert api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 202
    throttled = api.post("/api/v1/generations/", body, format="json")
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    page = Client()
    page.force_login(alice)
    form = page.post(f"/rooms/{room}/", {"style": "modern", "room_type": "living_room", "quality": "low", "n": 1})
    assert form.status_code == 429, "the pages count against the same rate"


@pytest.mark.django_db
def test_deliveries_go_to_their_own_queue(api, receiver, django_capture_on_commit_callbacks):
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("webhooks")
    register(api, receiver.url)
    generation = start_generation(api)
    with django_capture_on_commit_callbacks(execute=True):
        end_generation(generation["id"])
    assert broker.llen("webhooks") == 1
    assert webhooks.DELIVER_QUEUE == "webhooks" and "webhooks" not in roles.QUEUES.split(",")


@pytest.mark.django_db(transaction=True)
def test_one_delivery_per_endpoint_is_in_flight_at_a_time(api, receiver):
    receiver.delay_s = 1.5
    register(api, receiver.url)
    for _ in range(2):
        end_generation(start_generation(api)["id"])
    first, second = WebhookDelivery.objects.order_by("created_at")
    results: dict[str, Any] = {}
    sending = threading.Thread(target=lambda: results.update(first=webhooks.deliver(str(first.pk))))
    sending.start()
    wait_for(lambda: receiver.requests, 5, what="the first delivery to arrive")
    assert webhooks.deliver(str(second.pk)) is None, "the endpoint is busy: the second one waits its turn"
    sending.join(10)
    assert results["first"] == "succeeded" and len(receiver.requests) == 1
    second.refresh_from_db()
    assert second.attempts == 0 and second.status == "pending"
    assert second.dispatched_at is not None, "handed the turn when the first one finished"


@pytest.mark.django_db
def test_a_slow_receiver_is_cut_off_after_a_few_seconds(api, receiver):
    receiver.delay_s = 9.9
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    started = time.monotonic()
    assert webhooks.deliver(str(WebhookDelivery.objects.get().pk)) == "pending"
    assert time.monotonic() - started < conf.send_timeout_s() + 2
    assert conf.send_timeout_s() <= 5


@pytest.mark.django_db
def test_an_endpoint_failing_for_hours_is_disabled(api, receiver):
    assert conf.disable_after() <= timedelta(hours=6) and conf.disable_after_failures() <= 5
    receiver.statuses = [500]
    endpoint = WebhookEndpoint.objects.get(pk=register(api, receiver.url)["id"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=conf.disable_after_failures() - 1, failing_since=timezone.now() - conf.disable_after()
    )
    end_generation(start_generation(api)["id"])
    webhooks.deliver(str(WebhookDelivery.objects.get().pk))
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_reason == "failing"


def test_make_run_and_compose_run_a_webhook_worker():
    procfile = (ROOT / "scripts" / "run.sh").read_text()
    assert any(line.startswith("webhooks:") and "-Q webhooks" in line for line in procfile.splitlines())
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    command = compose["services"]["webhooks"]["command"]
    assert "-Q webhooks" in command and "gen." not in command
    assert "webhooks" not in compose["services"]["worker"]["command"]


def generation_latency(client: Any, room: str, prompt: str) -> float:
    started = time.monotonic()
    response = client.post("/api/v1/generations/", {"room": room, "style": "modern", "prompt": prompt}, format="json")
    assert response.status_code == 202, response.content
    final = wait_final(response.json()["id"], 60)
    assert final.status == "succeeded"
    return time.monotonic() - started


@pytest.mark.stack
def test_slow_endpoints_and_a_cached_loop_leave_other_users_latency_alone(
    transactional_db, worker_factory, provider, tmp_path, slow_receivers, make_user
):
    """Ten receivers that answer after 9.9 s and a loop of cached requests: bob's redesigns take as long as before."""
    provider.configure(latency_s_min=1.5, latency_s_max=1.5)
    allow = ",".join(receiver.hostport for receiver in slow_receivers)
    worker_factory(concurrency=4, WEBHOOK_ALLOWLIST=allow)
    worker_factory(concurrency=4, queues=roles.WEBHOOK_QUEUES, WEBHOOK_ALLOWLIST=allow)
    web = Web(stack_env(provider, WEBHOOK_ALLOWLIST=allow), tmp_path / "web.log")
    try:
        for receiver in slow_receivers:
            receiver.delay_s = 9.9
        mallory, bob = make_user("mallory", tier="business"), make_user("bob", tier="business")
        victim = client_for(bob)
        bob_room = upload_room(victim).json()["id"]
        quiet = [generation_latency(victim, bob_room, f"quiet {i}") for i in range(3)]

        attacker = client_for(mallory)
        for receiver in slow_receivers:
            register(attacker, receiver.url)
        room = upload_room(attacker).json()["id"]
        generation_latency(attacker, room, "seed")  # the result every later request is served from
        stop = threading.Event()
        answers: list[int] = []

        token = create_token(mallory, "loop")[1]

        def cached_loop() -> None:
            # Through the web server, twenty a second: far over the rate of creates, which turns most away.
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            body = {"room": room, "style": "modern", "prompt": "seed"}
            while not stop.wait(0.05):
                answers.append(session.post(f"{web.url}/api/v1/generations/", json=body, timeout=10).status_code)

        looping = threading.Thread(target=cached_loop, daemon=True)
        looping.start()
        wait_for(lambda: len(answers) >= 5, 30, what="the cached loop to get going")
        busy = [generation_latency(victim, bob_room, f"busy {i}") for i in range(3)]
        stop.set()
        looping.join(30)

        print(f"bob's latency: quiet {quiet}, during the attack {busy}")  # the figures, in the log
        assert statistics.median(busy) <= statistics.median(quiet) * 1.10, (quiet, busy)
        assert answers.count(202) >= 5 and set(answers) <= {202, 429}, "cache hits, then the rate of creates"
        assert sum(len(receiver.requests) for receiver in slow_receivers) >= 4, "the slow receivers held every slot"
    finally:
        web.stop()
