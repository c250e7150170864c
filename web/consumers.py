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

from asgiref.sync import sync_to_async
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


def parse_since(values: Any) -> dict[uuid.UUID, int]:
    """The last `seq` a page saw per generation, from `?since=id:seq,…` or a message's {id: seq}; junk is ignored."""
    if isinstance(values, str):
        values = dict(part.split(":", 1) for part in values.split(",") if ":" in part)
    if not isinstance(values, dict):
        return {}
    since = {}
    for key, value in list(values.items())[:MAX_WATCHED]:
        try:
            since[uuid.UUID(str(key).strip())] = max(int(value), 0)
        except (ValueError, TypeError):
            continue
    return since


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
        # A page that lost its socket says what it saw last: it gets what it missed, then the snapshot.
        await self.replay(parse_since(",".join(query.get("since", []))))
        await self.send_snapshot(self.watched)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Pages ask for a fresh snapshot when they come back from the background or suspect a lost event, and for
        # what they missed when they see a gap in a generation's numbers.
        if not isinstance(content, dict):
            return
        if content.get("type") == "snapshot":
            await self.send_snapshot(parse_ids(content.get("ids")) or self.watched)
        elif content.get("type") == "resume":
            gaps = await self.replay(parse_since(content.get("since")))
            if gaps:
                await self.send_snapshot(gaps)

    async def replay(self, since: dict[uuid.UUID, int]) -> list[uuid.UUID]:
        """Send each generation's updates after the page's last one; the ids whose updates are no longer kept."""
        gaps = []
        for generation_id, last in since.items():
            updates = await sync_to_async(events.missed)(self.scope["user"].pk, generation_id, last)
            if updates is None:
                gaps.append(generation_id)
                continue
            for payload in updates:
                await self.send_json(events.envelope(events.GENERATION_UPDATE, payload))
        return gaps

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
        rows = list(Generation.objects.filter(owner=user).filter(wanted).order_by("created_at")[:SNAPSHOT_LIMIT])
        try:
            seqs = events.current_seqs(user.pk, [row.pk for row in rows])
        except Exception:
            seqs = {}  # without Redis a snapshot still tells the state; pages then accept the next update as is
        return [{**event_payload(row), "seq": seqs.get(str(row.pk), 0)} for row in rows]
