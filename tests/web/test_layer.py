"""Events from sync code (workers, views) reach the channel layer over connections that stay open."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer

from generation import events

USER = 424242


@pytest.fixture
def layer_on(private_redis: Any, settings: Any) -> Any:
    """The channel layer on a Redis of the test's own, so every connection made to it is this process's."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": private_redis.url, "socket_timeout": 15}], "prefix": "layer-test"},
        }
    }
    return redis.Redis.from_url(private_redis.url)


def connections_made(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def send(n: int) -> None:
    events.send_to_user(USER, events.GENERATION_UPDATE, {"id": "g", "n": n})


def test_events_reuse_the_layers_connections(layer_on):
    send(0)  # opens the process's pool
    before = connections_made(layer_on)
    for n in range(20):
        send(n)
    # async_to_sync opened (and greeted) a connection for every one of these 20.
    assert connections_made(layer_on) - before <= 1

    threads = [threading.Thread(target=lambda: [send(n) for n in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Sends in flight at once take a connection each, at most two per send (the group, then its channels).
    assert connections_made(layer_on) - before <= 1 + 2 * len(threads)


def test_a_page_listening_gets_the_event(layer_on):
    channel_layer = get_channel_layer()

    async def listen() -> dict[str, Any]:
        channel = await channel_layer.new_channel()
        await channel_layer.group_add(events.group_for_user(USER), channel)
        threading.Timer(0.2, send, args=(7,)).start()
        return await asyncio.wait_for(channel_layer.receive(channel), 5)

    message = asyncio.run(listen())
    assert message == {"type": "deliver", "event": {"type": "generation.update", "payload": {"id": "g", "n": 7}}}
