"""The WebSocket a signed-in page listens on: a snapshot on connect, then every change of the user's jobs.

The asgi stack in front of it refuses foreign Origins (AllowedHostsOriginValidator) and resolves the
session cookie to a user; this consumer refuses anonymous users and joins only the user's own group.
Delivery through the channel layer is at-most-once, so pages re-sync from snapshots: one on every
(re)connect, and one whenever they ask.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Q

from generation import events
from generation.models import Generation
from generation.presenter import event_payload

MAX_WATCHED = 20
SNAPSHOT_LIMIT = 100
CLOSE_UNAUTHENTICATED = 4401
CLOSE_ACCOUNT_CLOSED = 4410


def parse_ids(values: Any) -> list[uuid.UUID]:
    """Generation ids a page watches, from `?watch=a,b` or a message's list; junk is ignored."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, list):
        return []
    ids = []
    for value in values[:MAX_WATCHED]:
        try:
            ids.append(uuid.UUID(str(value).strip()))
        except ValueError:
            continue
    return ids


class GenerationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = events.group_for_user(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        # A page watching a job that finished while it was disconnected gets that job too, not just the
        # unfinished ones: the final event may be the one that was lost.
        self.watched = parse_ids(",".join(query.get("watch", [])))
        await self.send_snapshot(self.watched)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Pages ask for a fresh snapshot when they come back from the background or suspect a lost event.
        if isinstance(content, dict) and content.get("type") == "snapshot":
            await self.send_snapshot(parse_ids(content.get("ids")) or self.watched)

    async def deliver(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def account_closed(self, message: dict[str, Any]) -> None:
        """The user deleted their account (events.ACCOUNT_CLOSED): this socket ends now."""
        await self.close(code=CLOSE_ACCOUNT_CLOSED)

    async def send_snapshot(self, watched: list[uuid.UUID]) -> None:
        payload = {"generations": await self.snapshot(self.scope["user"], watched)}
        await self.send_json(events.envelope(events.GENERATION_SNAPSHOT, payload))

    @database_sync_to_async
    def snapshot(self, user: Any, watched: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The user's unfinished generations plus the watched ones, oldest first; never anyone else's."""
        wanted = ~Q(status__in=Generation.FINAL)
        if watched:
            wanted |= Q(pk__in=watched)
        rows = Generation.objects.filter(owner=user).filter(wanted).order_by("created_at")
        return [event_payload(generation) for generation in rows[:SNAPSHOT_LIMIT]]
