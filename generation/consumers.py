"""The WebSocket a signed-in page listens on: a snapshot on connect, then every change of the user's jobs."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from generation import events


class GenerationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = events.group_for_user(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(events.envelope(events.GENERATION_SNAPSHOT, {"generations": await self.snapshot(user)}))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Pages ask for a fresh snapshot after they come back from the background or a reconnect.
        if isinstance(content, dict) and content.get("type") == "snapshot":
            payload = {"generations": await self.snapshot(self.scope["user"])}
            await self.send_json(events.envelope(events.GENERATION_SNAPSHOT, payload))

    async def deliver(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    @database_sync_to_async
    def snapshot(self, user: Any) -> list[dict[str, Any]]:
        from generation.models import Generation
        from generation.services import event_payload

        unfinished = Generation.objects.filter(owner=user).exclude(status__in=Generation.FINAL).order_by("created_at")
        return [event_payload(generation) for generation in unfinished[:100]]
