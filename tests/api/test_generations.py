"""POST /api/v1/generations/: validation, ownership, idempotency; nothing is charged for bad input."""

from __future__ import annotations

import pytest

from billing.models import Account, LedgerEntry
from generation.models import Generation
from tests.support.api import client_for, upload_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(api):
    return upload_room(api).json()


def create(client, room_id, **fields):
    headers = {}
    if "key" in fields:
        headers["HTTP_IDEMPOTENCY_KEY"] = fields.pop("key")
    return client.post("/api/v1/generations/", {"room": room_id, "style": "modern", **fields}, format="json", **headers)


def test_it_accepts_a_job_at_once_with_position_wait_and_cost(api, room):
    response = create(api, room["id"])
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["position"] == 1
    assert body["estimated_wait_s"] > 0 and float(body["estimated_cost_usd"]) > 0
    generation = Generation.objects.get(pk=body["id"])
    assert generation.room_type == "living_room" and generation.size == "1536x1024"
    entry = LedgerEntry.objects.get(generation=generation)
    assert entry.kind == "reserve" and entry.reserved_usd == generation.estimated_cost_usd


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"style": "gothic-castle"}, "style"),
        ({"quality": "ultra"}, "quality"),
        ({"n": 0}, "n"),
        ({"n": 99}, "n"),
        ({"prompt": "x" * 501}, "prompt"),
        ({"room_type": "moon"}, "room_type"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_reserved(api, room, fields, field):
    response = create(api, room["id"], **fields)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert Generation.objects.count() == 0
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def test_missing_room_and_garbage_bodies_are_400(api):
    assert api.post("/api/v1/generations/", {"style": "modern"}, format="json").status_code == 400
    bad_json = api.post("/api/v1/generations/", "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "parse_error"
    assert api.post("/api/v1/generations/", {"room": "not-a-uuid", "style": "modern"}, format="json").status_code == 400


def test_someone_elses_room_is_not_found_and_costs_nothing(api, room, bob):
    response = create(client_for(bob), room["id"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "room_not_found"
    assert Generation.objects.count() == 0
    assert Account.objects.get(user=bob).reserved_usd == 0


def test_a_quality_above_the_plan_is_refused(api, room):
    response = create(api, room["id"], quality="high")
    assert response.status_code in (400, 403)
    assert response.json()["error"]["code"] == "quality_not_allowed"
    assert Generation.objects.count() == 0


def test_generations_are_private_and_listed_newest_first(api, room, bob):
    first = create(api, room["id"], prompt="one").json()
    second = create(api, room["id"], prompt="two").json()
    listed = api.get("/api/v1/generations/").json()["results"]
    assert [g["id"] for g in listed] == [second["id"], first["id"]]
    other = client_for(bob)
    assert other.get(f"/api/v1/generations/{first['id']}/").status_code == 404
    assert other.get("/api/v1/generations/999999999/").status_code == 404
    assert other.get("/api/v1/generations/").json()["results"] == []


def test_cancel_releases_the_reservation(api, room, alice):
    job = create(api, room["id"]).json()
    response = api.post(f"/api/v1/generations/{job['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    account = Account.objects.get(user=alice)
    assert account.reserved_usd == 0 and account.spend_usd == 0
    again = api.post(f"/api/v1/generations/{job['id']}/cancel/")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"  # cancelling is idempotent
    assert LedgerEntry.objects.filter(generation_id=job["id"], kind="release").count() == 1


def test_a_finished_job_cannot_be_cancelled(api, room):
    job = create(api, room["id"]).json()
    Generation.objects.filter(pk=job["id"]).update(status="succeeded")
    response = api.post(f"/api/v1/generations/{job['id']}/cancel/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_finished"


class TestIdempotency:
    def test_the_same_key_and_body_replays_the_first_response_without_a_second_job(self, api, room):
        first = create(api, room["id"], key="k-1")
        again = create(api, room["id"], key="k-1")
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert Generation.objects.count() == 1

    def test_the_same_key_with_another_body_is_422(self, api, room):
        create(api, room["id"], key="k-2")
        response = create(api, room["id"], key="k-2", style="japandi")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Generation.objects.count() == 1

    def test_keys_belong_to_one_user(self, api, room, bob):
        create(api, room["id"], key="shared")
        bobs_room = upload_room(client_for(bob)).json()
        response = create(client_for(bob), bobs_room["id"], key="shared")
        assert response.status_code == 202
        assert Generation.objects.count() == 2

    def test_a_refused_request_does_not_burn_its_key(self, api, room):
        assert create(api, room["id"], key="k-4", quality="high").status_code in (400, 403)
        assert create(api, room["id"], key="k-4").status_code == 202


def test_the_catalogue_lists_styles_and_room_types(api):
    body = api.get("/api/v1/styles/").json()
    slugs = {r["slug"] for r in body["room_types"]}
    assert {"living_room", "bedroom", "kitchen", "bathroom", "dining_room", "office"} <= slugs
    assert len(body["styles"]) >= 8 and all(s["slug"] and s["name"] for s in body["styles"])
