"""The WebSocket, through the real ASGI stack (origin check, session auth) and the Redis channel layer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async as in_thread

from generation import events
from tests.support.sockets import make_generation, open_socket, session_cookie, snapshot_ids

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_refuses_anonymous_users() -> None:
    communicator, connected = await open_socket(cookie=None)
    assert not connected
    await communicator.disconnect()


async def test_it_refuses_a_forged_session() -> None:
    communicator, connected = await open_socket(cookie="not-a-real-session")
    assert not connected
    await communicator.disconnect()


async def test_it_refuses_foreign_origins(alice: Any) -> None:
    cookie = await in_thread(session_cookie)(alice)
    for origin in ("http://evil.example", "https://attacker.test:8000", None):
        communicator, connected = await open_socket(cookie, origin=origin)
        assert not connected, origin
        await communicator.disconnect()


async def test_it_sends_a_snapshot_of_unfinished_generations_on_connect(alice: Any) -> None:
    queued = await in_thread(make_generation)(alice)
    running = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=40)
    await in_thread(make_generation)(alice, "succeeded", stage="done", progress=100)
    communicator, connected = await open_socket(await in_thread(session_cookie)(alice))
    assert connected
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "generation.snapshot"
    by_id = {payload["id"]: payload for payload in message["payload"]["generations"]}
    assert list(by_id) == [str(queued.pk), str(running.pk)]
    assert by_id[str(queued.pk)]["position"] >= 1 and by_id[str(queued.pk)]["estimated_wait_s"] > 0
    assert by_id[str(running.pk)]["progress"] == 40
    assert by_id[str(running.pk)]["stage_label"] == "Redesigning your room"
    await communicator.disconnect()


async def test_a_watched_generation_is_in_the_snapshot_even_when_it_finished(alice: Any) -> None:
    # The page missed the final event while it was disconnected: the reconnect snapshot must carry it.
    finish = {"stage": "done", "progress": 100, "images": ["results/a.jpg"]}
    done = await in_thread(make_generation)(alice, "succeeded", **finish)
    cookie = await in_thread(session_cookie)(alice)
    communicator, connected = await open_socket(cookie, query=f"?watch={done.pk},junk")
    assert connected
    message = await communicator.receive_json_from(timeout=5)
    [payload] = message["payload"]["generations"]
    assert payload["status"] == "succeeded" and payload["images"] == [f"/media/generations/{done.pk}/0/"]
    await communicator.disconnect()


async def test_it_answers_a_snapshot_request(alice: Any) -> None:
    communicator, _ = await open_socket(await in_thread(session_cookie)(alice))
    assert await snapshot_ids(communicator) == []
    generation = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=55)
    await communicator.send_json_to({"type": "snapshot"})
    assert await snapshot_ids(communicator) == [str(generation.pk)]
    await communicator.disconnect()


async def test_each_user_hears_only_about_their_own_generations(alice: Any, bob: Any) -> None:
    alices = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=20)
    bobs = await in_thread(make_generation)(bob, "running", stage="calling_model", progress=30)
    alice_socket, _ = await open_socket(await in_thread(session_cookie)(alice))
    bob_socket, _ = await open_socket(await in_thread(session_cookie)(bob))
    assert await snapshot_ids(alice_socket) == [str(alices.pk)]
    assert await snapshot_ids(bob_socket) == [str(bobs.pk)]

    alices.progress = 64
    await in_thread(events.publish)(alices, on_commit=False)
    message = await alice_socket.receive_json_from(timeout=5)
    assert message == {"type": "generation.update", "payload": message["payload"]}
    assert message["payload"]["id"] == str(alices.pk) and message["payload"]["progress"] == 64
    assert await bob_socket.receive_nothing(timeout=0.5)

    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_watching_someone_elses_generation_reveals_nothing(alice: Any, bob: Any) -> None:
    alices = await in_thread(make_generation)(alice, "succeeded", stage="done", progress=100)
    cookie = await in_thread(session_cookie)(bob)
    communicator, connected = await open_socket(cookie, query=f"?watch={alices.pk}")
    assert connected
    assert await snapshot_ids(communicator) == []
    await communicator.send_json_to({"type": "snapshot", "ids": [str(alices.pk)]})
    assert await snapshot_ids(communicator) == []
    await communicator.disconnect()


async def test_an_idle_socket_still_gets_events(alice: Any) -> None:
    generation = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=20)
    communicator, _ = await open_socket(await in_thread(session_cookie)(alice))
    assert await snapshot_ids(communicator) == [str(generation.pk)]
    await asyncio.sleep(6)  # longer than the channel layer's 5 s blocking pop: a quiet queue, a quiet page
    await in_thread(events.publish)(generation, on_commit=False)
    message = await communicator.receive_json_from(timeout=5)
    assert message["payload"]["id"] == str(generation.pk)
    await communicator.disconnect()
