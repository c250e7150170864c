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
        self.round_trips = 0
        self.commands: Counter[str] = Counter()
        self.publishes = 0

    def reset(self) -> None:
        self.round_trips, self.commands, self.publishes = 0, Counter(), 0

    def packet(self) -> None:
        if self.on:
            with self.lock:
                self.round_trips += 1

    def command(self, args: tuple[Any, ...]) -> None:
        if self.on and args:
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            with self.lock:
                self.commands[name.upper()] += 1


def instrument(tally: Tally) -> None:
    """Count at the connection: one `send_packed_command` is one request on the wire, whatever built it."""
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection
    from celery.signals import before_task_publish

    for module in (sync_connection, async_connection):
        cls = module.AbstractConnection
        pack, pack_many, send = cls.pack_command, cls.pack_commands, cls.send_packed_command

        def pack_command(self: Any, *args: Any, _pack: Any = pack) -> Any:
            tally.command(args)
            return _pack(self, *args)

        def pack_commands(self: Any, commands: Any, _pack_many: Any = pack_many) -> Any:
            commands = [tuple(c) for c in commands]
            for args in commands:
                tally.command(args)
            was, tally.on = tally.on, False  # a pipeline packed through pack_command must not count twice
            try:
                return _pack_many(self, commands)
            finally:
                tally.on = was

        cls.pack_command = pack_command  # type: ignore[method-assign]
        cls.pack_commands = pack_commands  # type: ignore[method-assign]
        if module is sync_connection:

            def send_sync(self: Any, command: Any, *args: Any, _send: Any = send, **kwargs: Any) -> Any:
                tally.packet()
                return _send(self, command, *args, **kwargs)

            cls.send_packed_command = send_sync  # type: ignore[method-assign]
        else:

            async def send_async(self: Any, command: Any, *args: Any, _send: Any = send, **kwargs: Any) -> Any:
                tally.packet()
                return await _send(self, command, *args, **kwargs)

            cls.send_packed_command = send_async  # type: ignore[method-assign]

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
                "redis_round_trips": tally.round_trips,
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
