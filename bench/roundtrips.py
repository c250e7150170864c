"""Count what one accept costs: `python -m bench.roundtrips USERS_JSON OUT` (bench/run.py runs it, InteriorAI's env).

Sends `POST /api/v1/generations/` through Django's test client in this process (the whole middleware and DRF
stack, no ASGI server) against the run's own database and Redis while InteriorAI's workers are up, and counts,
per request: SQL queries (`CaptureQueriesContext`), Redis round trips (every packet a Redis connection sends, the
channel layer's included: a pipeline or a Lua script is one) and the commands in them, and Celery messages
published. Each job is deleted through the API at once; its message goes to a broker database no worker reads
(the caller points `CELERY_BROKER_URL` elsewhere), so nothing runs. The first request pays the process's cold
caches (connections, scripts loaded into Redis) and is reported apart.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import django

REQUESTS = 6


class Tally:
    """Redis packets and commands, and Celery publishes, sent by this process while `on` is set."""

    def __init__(self) -> None:
        self.on = False
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.round_trips: Counter[str] = Counter()  # "sync" (redis-py) and "async" (the channel layer's)
        self.commands: Counter[str] = Counter()
        self.publishes = 0

    def packet(self, kind: str) -> None:
        if self.on:
            with self.lock:
                self.round_trips[kind] += 1

    def command(self, args: Any) -> None:
        if self.on and args:
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            with self.lock:
                self.commands[name.upper()] += 1


def instrument(tally: Tally) -> None:
    """Count at the connection: one `send_packed_command` is one request on the wire, whatever built it."""
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection
    from celery.signals import before_task_publish

    sync = sync_connection.AbstractConnection
    sync_send, sync_command, sync_many = sync.send_packed_command, sync.send_command, sync.pack_commands

    def send_packed_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        tally.packet("sync")
        return sync_send(self, command, *args, **kwargs)

    def send_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        tally.command(args)
        return sync_command(self, *args, **kwargs)

    def pack_commands(self: Any, commands: Any) -> Any:
        commands = [tuple(c) for c in commands]
        for args in commands:
            tally.command(args)
        return sync_many(self, commands)

    sync.send_packed_command = send_packed_command  # type: ignore[method-assign]
    sync.send_command = send_command  # type: ignore[method-assign]
    sync.pack_commands = pack_commands  # type: ignore[method-assign]

    # The asyncio client (the channel layer's) packs every command, a pipeline's too, through pack_command.
    aio = async_connection.AbstractConnection
    aio_send, aio_pack = aio.send_packed_command, aio.pack_command

    async def send_async(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        tally.packet("async")
        return await aio_send(self, command, *args, **kwargs)

    def pack_async(self: Any, *args: Any) -> Any:
        tally.command(args)
        return aio_pack(self, *args)

    aio.send_packed_command = send_async  # type: ignore[method-assign]
    aio.pack_command = pack_async  # type: ignore[method-assign]

    def published(**_: Any) -> None:
        if tally.on:
            tally.publishes += 1

    before_task_publish.connect(published, weak=False)


def photo() -> bytes:
    from bench.load import room_photo

    return room_photo(7)


def measure(users: list[dict[str, Any]]) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    tally = Tally()
    instrument(tally)
    samples: list[dict[str, Any]] = []
    free = [u for u in users if u["tier"] == "free"][:REQUESTS] or users[:REQUESTS]
    for user in free:
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {user['token']}")
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("room.jpg", photo(), content_type="image/jpeg")
        room = client.post("/api/v1/rooms/", {"photo": upload, "name": "Round trips", "room_type": "living_room"})
        if room.status_code != 201:
            return {"error": f"room upload answered {room.status_code}"}
        body = {"room": room.json()["id"], "style": "scandinavian", "prompt": "round trips", "quality": "low"}
        tally.reset()
        tally.on = True
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/generations/", body, content_type="application/json")
        tally.on = False
        data = response.json()
        samples.append(
            {
                "status": response.status_code,
                "sql_queries": len(queries.captured_queries),
                "redis_round_trips": sum(tally.round_trips.values()),
                "channel_layer_round_trips": tally.round_trips["async"],
                "redis_commands": dict(tally.commands),
                "celery_publishes": tally.publishes,
                "position": data.get("position"),
                "estimated_wait_s": data.get("estimated_wait_s"),
            }
        )
        if response.status_code == 202:
            client.delete(f"/api/v1/generations/{data['id']}/")
    return summarize(samples)


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    warm = [s for s in samples[1:] if s["status"] == 202] or samples

    def typical(key: str) -> float | None:
        values = [s[key] for s in warm]
        return statistics.median(values) if values else None

    return {
        "requests": len(samples),
        "sql_queries": typical("sql_queries"),
        "redis_round_trips": typical("redis_round_trips"),
        "channel_layer_round_trips": typical("channel_layer_round_trips"),
        "celery_publishes": typical("celery_publishes"),
        "redis_commands": warm[-1]["redis_commands"] if warm else {},
        "cold": samples[0] if samples else None,
        "samples": samples,
    }


def main() -> None:
    django.setup()
    users = json.loads(Path(sys.argv[1]).read_text())
    Path(sys.argv[2]).write_text(json.dumps(measure(users)))


if __name__ == "__main__":
    main()
