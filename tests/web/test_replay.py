"""A page whose socket was cut gets what it missed when it comes back, in order, or a snapshot when that is gone."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async as in_thread

from generation import events
from generation.models import Generation
from tests.support.sockets import make_generation, open_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def progress_to(generation: Generation, value: int) -> None:
    generation.progress = value
    await in_thread(events.publish)(generation, on_commit=False)


async def updates_until_snapshot(communicator: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    updates = []
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == "generation.snapshot":
            return updates, message["payload"]
        updates.append(message["payload"])


async def test_a_page_that_reconnects_gets_the_updates_it_missed_in_order(alice: Any) -> None:
    generation = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=10)
    cookie = await in_thread(session_cookie)(alice)
    page, _ = await open_socket(cookie, query=f"?watch={generation.pk}")
    await updates_until_snapshot(page)
    await progress_to(generation, 20)
    seen = (await page.receive_json_from(timeout=5))["payload"]
    await page.disconnect()  # the socket is cut mid-run

    for value in (30, 40, 50):
        await progress_to(generation, value)
    page, _ = await open_socket(cookie, query=f"?watch={generation.pk}&since={generation.pk}:{seen['seq']}")
    missed, snapshot = await updates_until_snapshot(page)
    assert [update["progress"] for update in missed] == [30, 40, 50]
    assert [update["seq"] for update in missed] == [seen["seq"] + 1, seen["seq"] + 2, seen["seq"] + 3]
    [state] = snapshot["generations"]
    assert state["seq"] == missed[-1]["seq"], "the snapshot tells the page how far it is"
    await page.disconnect()


async def test_when_what_it_missed_is_gone_the_page_gets_a_snapshot_instead(alice: Any) -> None:
    generation = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=10)
    cookie = await in_thread(session_cookie)(alice)
    await progress_to(generation, 11)
    seen = (await in_thread(events.current_seqs)(alice.pk, [generation.pk]))[str(generation.pk)]
    for value in range(12, 12 + events.LOG_LENGTH + 5):  # more than is kept
        await progress_to(generation, min(value, 90))
    page, _ = await open_socket(cookie, query=f"?since={generation.pk}:{seen}")
    missed, snapshot = await updates_until_snapshot(page)
    assert missed == []
    [state] = snapshot["generations"]
    assert state["id"] == str(generation.pk) and state["seq"] == seen + events.LOG_LENGTH + 5


async def test_nobody_replays_another_users_updates(alice: Any, bob: Any) -> None:
    alices = await in_thread(make_generation)(alice, "running", stage="calling_model", progress=10)
    await progress_to(alices, 20)
    page, _ = await open_socket(await in_thread(session_cookie)(bob), query=f"?since={alices.pk}:0")
    missed, snapshot = await updates_until_snapshot(page)
    assert missed == [] and snapshot["generations"] == []
    await page.send_json_to({"type": "resume", "since": {str(alices.pk): 0}})
    assert await page.receive_nothing(timeout=0.5), "a resume for a generation that is not yours sends nothing"
    await page.disconnect()
