"""Cache rules checked in-process through the API, with jobs finished by the worker's own service calls."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from billing.models import Account
from generation import finish, presenter
from generation.cache import embedder, lookup
from generation.models import Generation
from generation.runtime import leases
from tests.support.api import client_for, upload_room

pytestmark = pytest.mark.django_db(transaction=True)
COST = Decimal("0.0110")


def ask(client: Any, room: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/generations/", {"room": room, "style": "modern", **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def run_to_success(generation_id: str) -> Generation:
    """Succeed the job the way a worker does once the provider answered (claim, then succeed)."""
    generation = leases.claim(generation_id, "test-worker")
    assert generation is not None
    assert finish.succeed(generation, "test-worker", image_names=[f"results/{generation.pk.hex}/0.jpg"], cost=COST)
    return Generation.objects.get(pk=generation_id)


def produce(client: Any, room: str, **fields: Any) -> Generation:
    body = ask(client, room, **fields)
    assert body["status"] == "queued" and body["cached"] is False
    return run_to_success(body["id"])


@pytest.fixture
def studio(alice: Any) -> tuple[Any, str]:
    client = client_for(alice)
    return client, upload_room(client).json()["id"]


def test_a_hit_is_free_and_uses_no_quota_even_at_the_limit(studio, alice):
    client, room = studio
    produce(client, room, prompt="terracotta accents")
    Account.objects.filter(user=alice).update(generations_used=10)  # the free plan's whole quota
    assert ask(client, room, prompt="terracotta accents")["cached"] is True
    response = client.post("/api/v1/generations/", {"room": room, "style": "modern", "prompt": "teal"}, format="json")
    assert response.status_code == 402


def test_results_older_than_the_tiers_ttl_are_not_served(studio, alice, make_user):
    client, room = studio
    source = produce(client, room, prompt="olive velvet")
    Generation.objects.filter(pk=source.pk).update(finished_at=timezone.now() - timedelta(days=8))  # free: 7 days
    assert ask(client, room, prompt="olive velvet")["status"] == "queued"
    business = make_user("biz", tier="business")  # 90 days
    biz_client = client_for(business)
    biz_room = upload_room(biz_client).json()["id"]
    old = produce(biz_client, biz_room, prompt="olive velvet")
    Generation.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert ask(biz_client, biz_room, prompt="olive velvet")["cached"] is True


def test_each_user_keeps_a_bounded_number_of_entries(studio, settings):
    settings.CACHE_MAX_ENTRIES_PER_USER = 2
    client, room = studio
    oldest = produce(client, room, prompt="one armchair")
    produce(client, room, prompt="two armchairs")
    produce(client, room, prompt="three armchairs")
    assert Generation.objects.get(pk=oldest.pk).cache_key == ""
    assert ask(client, room, prompt="one armchair")["status"] == "queued"
    assert ask(client, room, prompt="three armchairs")["cached"] is True


def test_without_the_sentence_model_near_duplicates_miss_but_nothing_breaks(studio, monkeypatch):
    broken = embedder.Embedder()
    monkeypatch.setattr(broken, "load", lambda: (_ for _ in ()).throw(OSError("no model files")))
    monkeypatch.setattr(lookup, "EMBEDDER", broken)
    client, room = studio
    produce(client, room, prompt="make the walls sage green")
    assert ask(client, room, prompt="paint the walls sage green")["status"] == "queued"
    assert ask(client, room, prompt="Make the walls sage-green.")["cached"] is True


def test_with_the_cache_off_every_request_is_new_work(studio, settings):
    settings.CACHE_ENABLED = False
    client, room = studio
    produce(client, room, prompt="rattan")
    assert ask(client, room, prompt="rattan")["status"] == "queued"


def test_a_hit_is_announced_like_any_finished_job(studio):
    client, room = studio
    produce(client, room)
    body = ask(client, room)
    generation = Generation.objects.get(pk=body["id"])
    assert generation.status == "succeeded" and generation.billing_state == "released"
    assert generation.cached_from is not None and generation.cache_key == ""
    assert presenter.event_payload(generation)["cached"] is True
    listed = client.get("/api/v1/generations/").json()["results"][0]
    assert listed["id"] == body["id"] and listed["cached"] is True


def test_the_ops_page_shows_calls_and_dollars_saved(studio, client, django_user_model):
    api, room = studio
    produce(api, room, prompt="checkered floor")
    ask(api, room, prompt="checkered floor")
    ask(api, room, prompt="Checkered floor!")
    ops = django_user_model.objects.create_user("ops", password="x" * 12, is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_ops"))
    client.force_login(ops)
    response = client.get("/admin/ops/")
    assert response.status_code == 200
    assert response.context["cache_calls_saved"] == 2
    assert response.context["cache_saved_usd"] == 2 * COST
    assert response.context["cache_exact_ratio"] == pytest.approx(2 / 3)
    assert b"Dollars saved" in response.content and b"$0.02" in response.content
