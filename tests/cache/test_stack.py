"""The result cache through the API, with a real worker and the sandbox counting every provider call."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
import requests

from billing.models import Account
from billing.services import ledger_totals
from core.counters import CACHE_KEY
from core.redis import redis_client
from generation.models import Generation
from tests.support.api import client_for, upload_room
from tests.support.images import room_photo
from tests.support.waiting import wait_final, wait_for

pytestmark = pytest.mark.stack


def ask(client: Any, room: str, **fields: Any) -> tuple[dict[str, Any], float]:
    """POST a generation; the body and how many milliseconds the answer took."""
    body = {"room": room, "style": "modern", "quality": "low", **fields}
    started = time.perf_counter()
    response = client.post("/api/v1/generations/", body, format="json")
    took_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 202, response.content
    return response.json(), took_ms


def run(client: Any, room: str, **fields: Any) -> Generation:
    body, _ = ask(client, room, **fields)
    return wait_final(body["id"], 60)


def calls(provider: Any) -> int:
    return provider.stats()["requests_total"]


def lookups() -> dict[str, int]:
    return {k.decode(): int(v) for k, v in redis_client().hgetall(CACHE_KEY).items()}


def assert_books_balance(*users: Any) -> None:
    for user in users:
        account = Account.objects.get(user=user)
        totals = ledger_totals(account)
        assert totals["reserved_usd"] == account.reserved_usd == 0
        assert totals["spend_usd"] == account.spend_usd
        assert totals["generations_used"] == account.generations_used


def assert_no_foreign_images() -> None:
    """Every image a user holds was made from a photo with the same bytes as the one in their own room."""
    made_from = {}
    for generation in Generation.objects.filter(cached=False, status="succeeded").select_related("room"):
        for name in generation.images:
            made_from[name] = generation.room.photo_sha256 if generation.room else None
    for generation in Generation.objects.filter(status="succeeded").select_related("room"):
        if generation.room is not None:
            assert {made_from[name] for name in generation.images} == {generation.room.photo_sha256}


def test_the_same_request_again_makes_no_call_and_arrives_in_milliseconds(worker, provider, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    first = run(client, room, prompt="light oak floors, linen sofa")
    assert first.status == "succeeded" and calls(provider) == 1
    timings = []
    for _ in range(5):
        body, took_ms = ask(client, room, prompt="light oak floors, linen sofa")
        timings.append(took_ms)
        assert body["status"] == "succeeded" and body["cached"] is True
        assert body["cost_usd"] == "0.0000" and body["charged"] is False
        assert body["position"] == 0 and body["estimated_wait_s"] == 0
        assert len(body["images"]) == 1
        assert Generation.objects.get(pk=body["id"]).images == first.images
    print(f"\nexact hit: median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms (API round trip)")
    assert calls(provider) == 1
    detail = client.get(f"/api/v1/generations/{body['id']}/").json()
    assert detail["cached"] is True and detail["images"] == body["images"]
    assert client.get(detail["images"][0]).status_code == 200
    account = Account.objects.get(user=alice)
    assert account.generations_used == 1 and account.spend_usd == first.cost_usd
    assert lookups() == {"miss": 1, "exact_hit": 5}
    assert_books_balance(alice)


def test_a_reworded_prompt_makes_no_call_but_a_different_style_or_colour_does(worker, provider, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    run(client, room, prompt="modern minimalist, light oak")
    run(client, room, prompt="make the walls sage green")
    assert calls(provider) == 2
    reordered, _ = ask(client, room, prompt="light-oak minimalist modern")
    timings = []
    for prompt in ("paint the walls sage green", "Paint the walls sage-green!", "make the walls a sage green colour"):
        reworded, took_ms = ask(client, room, prompt=prompt)
        timings.append(took_ms)
        assert reworded["status"] == "succeeded" and reworded["cached"] is True, prompt
    print(f"\nsemantic hit: median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms (API round trip)")
    assert reordered["cached"] is True and calls(provider) == 2
    assert lookups()["semantic_hit"] >= 1
    for fields in (
        {"prompt": "modern minimalist, dark oak"},
        {"prompt": "make the walls navy blue"},
        {"prompt": "modern minimalist, light oak", "style": "japandi"},
    ):
        generation = run(client, room, **fields)
        assert generation.status == "succeeded" and not generation.cached, fields
    assert calls(provider) == 5
    assert_books_balance(alice)


def test_two_identical_requests_in_flight_make_one_call(worker, provider, make_user):
    provider.configure(latency_s_min=1.5, latency_s_max=1.5)
    user = make_user("carol", tier="pro")
    client = client_for(user)
    room = upload_room(client).json()["id"]
    ids = [ask(client, room, prompt="warm lighting and plants")[0]["id"] for _ in range(3)]
    finals = [wait_final(pk, 60) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 3
    assert calls(provider) == 1
    leader, *followers = finals
    assert not leader.cached and leader.cost_usd > 0
    assert all(f.cached and f.cost_usd == 0 and f.images == leader.images for f in followers)
    assert lookups()["coalesced"] == 2
    account = Account.objects.get(user=user)
    assert account.generations_used == 1 and account.spend_usd == leader.cost_usd
    assert_books_balance(user)


def test_a_follower_runs_on_its_own_when_its_leader_is_cancelled(worker, provider, alice):
    # The leader's call fails and it waits to retry: with no call in flight, it may be cancelled.
    provider.configure(rate_503=1.0)
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    leader = ask(client, room, prompt="coastal linen")[0]["id"]
    follower = ask(client, room, prompt="coastal linen")[0]["id"]
    wait_for(lambda: Generation.objects.get(pk=leader).stage == "retrying", 20, what="the leader's failed call")
    provider.configure(rate_503=0)
    assert client.post(f"/api/v1/generations/{leader}/cancel/").status_code == 200
    generation = wait_final(follower, 60)
    assert generation.status == "succeeded" and not generation.cached
    assert calls(provider) == 2
    assert_books_balance(alice)


def test_followers_of_a_failed_leader_each_get_their_own_answer(worker, provider, alice):
    provider.configure(latency_s_min=1, latency_s_max=1)
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    ids = [ask(client, room, prompt="a FORBIDDEN design")[0]["id"] for _ in range(2)]
    finals = [wait_final(pk, 60) for pk in ids]
    assert [g.error_code for g in finals] == ["content_policy", "content_policy"]
    assert calls(provider) == 2
    assert_books_balance(alice)


def test_generate_again_asks_for_a_new_picture(worker, provider, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    first = run(client, room, prompt="boho")
    response = client.post(f"/api/v1/generations/{first.pk}/again/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    again = wait_final(response.json()["id"], 60)
    assert again.status == "succeeded" and not again.cached and again.variant == 1
    assert again.images != first.images
    assert calls(provider) == 2
    assert ask(client, room, prompt="boho")[0]["cached"] is True  # the ordinary request is still served
    assert calls(provider) == 2


def test_a_deleted_rooms_cache_is_gone(worker, provider, alice):
    client = client_for(alice)
    photo = room_photo(seed=3)
    room = upload_room(client, photo).json()["id"]
    first = run(client, room, prompt="mid-century teal accents")
    twin = upload_room(client, photo).json()["id"]  # the same photo again: the user's own cache serves it
    copy = ask(client, twin, prompt="mid-century teal accents")[0]
    assert copy["cached"] is True
    assert client.delete(f"/api/v1/rooms/{room}/").status_code == 204
    assert not Generation.objects.filter(pk=first.pk).exists(), "the room's generations went with it"
    # The copy in the other room shows the same stored image: it stays until that copy goes too.
    assert client.get(copy["images"][0]).status_code == 200
    again = run(client, twin, prompt="mid-century teal accents")
    assert again.status == "succeeded" and not again.cached
    assert calls(provider) == 2


def test_no_user_gets_images_made_from_someone_elses_photo(worker, provider, alice, bob, make_user, settings):
    photo = room_photo(seed=5)
    alice_client, bob_client = client_for(alice), client_for(bob)
    original = run(alice_client, upload_room(alice_client, photo).json()["id"], prompt="japandi calm")
    other = run(bob_client, upload_room(bob_client, room_photo(seed=9)).json()["id"], prompt="japandi calm")
    same_bytes = run(bob_client, upload_room(bob_client, photo).json()["id"], prompt="japandi calm")
    assert not other.cached and not same_bytes.cached, "sharing is off by default"
    assert calls(provider) == 3
    settings.CACHE_SHARE_ACROSS_USERS = True
    carol = make_user("carol")
    carol_client = client_for(carol)
    shared, _ = ask(carol_client, upload_room(carol_client, photo).json()["id"], prompt="japandi calm")
    assert shared["cached"] is True and calls(provider) == 3
    assert Generation.objects.get(pk=shared["id"]).images in (original.images, same_bytes.images)
    stranger = run(carol_client, upload_room(carol_client, room_photo(seed=11)).json()["id"], prompt="japandi calm")
    assert not stranger.cached and calls(provider) == 4
    # Alice's own page never lists or serves Carol's copy.
    assert alice_client.get(f"/api/v1/generations/{shared['id']}/").status_code == 404
    assert_no_foreign_images()


def test_a_replayed_workload_pays_once_per_distinct_picture(worker, provider, make_user):
    """Photos restyled and prompts reworded, as people do: calls drop by exactly the hit ratio, with no false hit."""
    workload = [
        ("modern", "light oak floors, linen sofa"),
        ("modern", "linen sofa, light oak floors"),
        ("modern", "Light-oak floors; linen sofa."),
        ("japandi", "light oak floors, linen sofa"),
        ("modern", "dark oak floors, linen sofa"),
        ("japandi", "paper lamps and low table"),
        ("japandi", "low table and paper lamps"),
        ("modern", "make the walls sage green"),
        ("modern", "paint the walls sage green"),
        ("modern", "paint the walls navy blue"),
    ]
    distinct = 6  # light oak modern, light oak japandi, dark oak, paper lamps, sage walls, navy walls
    users = [make_user("uma", tier="pro"), make_user("vic", tier="pro")]
    started_calls, latencies = calls(provider), []
    for index, user in enumerate(users):
        client = client_for(user)
        # Distinct pixels (nearby seeds can encode to the same JPEG); Uma's first photo is also Vic's first.
        rooms = [upload_room(client, room_photo(seed=seed)).json()["id"] for seed in ((0, 10), (0, 30))[index]]
        for room in rooms:
            for style, prompt in workload:
                body, took_ms = ask(client, room, style=style, prompt=prompt)
                if body["cached"]:
                    latencies.append(took_ms)
                else:
                    assert wait_final(body["id"], 60).status == "succeeded"
    requests, paid = 2 * 2 * len(workload), calls(provider) - started_calls
    print(
        f"\nreplay: {requests} requests, {paid} provider calls, hit ratio {1 - paid / requests:.0%}, "
        f"cached answers median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms"
    )
    assert paid == 2 * 2 * distinct, "sharing is off: Vic pays for his copy of Uma's photo"
    assert_no_foreign_images()
    assert_books_balance(*users)


def test_cached_answers_over_http_arrive_in_milliseconds(web, worker, provider, alice):
    session = requests.Session()
    token = session.post(
        f"{web.url}/api/v1/auth/token/", json={"username": "alice", "password": "correct horse battery"}
    )
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    photo = {"photo": ("room.jpg", room_photo(seed=15), "image/jpeg")}
    room = session.post(f"{web.url}/api/v1/rooms/", files=photo, data={"room_type": "bedroom"}).json()["id"]

    def post(prompt: str) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        response = session.post(
            f"{web.url}/api/v1/generations/",
            json={"room": room, "style": "coastal", "quality": "low", "prompt": prompt},
        )
        assert response.status_code == 202, response.text
        return response.json(), (time.perf_counter() - started) * 1000

    wait_final(post("make the walls sage green")[0]["id"], 60)
    first_semantic = post("paint the walls sage green")  # may wait for the model to finish loading in daphne
    assert first_semantic[0]["cached"] is True
    exact = [post("Make the walls sage green.") for _ in range(10)]
    semantic = [post("make the walls a sage green colour") for _ in range(10)]
    assert all(body["cached"] for body, _ in exact + semantic) and calls(provider) == 1
    print(
        f"\nover HTTP (daphne): exact hit median {statistics.median(ms for _, ms in exact):.1f} ms, "
        f"semantic hit median {statistics.median(ms for _, ms in semantic):.1f} ms, "
        f"first semantic hit {first_semantic[1]:.0f} ms"
    )
