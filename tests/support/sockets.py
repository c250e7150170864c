"""The WebSocket the way a page opens it: through the real ASGI stack (origin check, session cookie)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from generation.models import Generation, Room
from interiorai.asgi import application

ORIGIN = "http://testserver"


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def make_generation(user: Any, status: str = "queued", **fields: Any) -> Generation:
    room = Room.objects.create(
        owner=user, name="Lounge", room_type="bedroom", photo="rooms/x.jpg", photo_sha256="0" * 64, width=8, height=6
    )
    return Generation.objects.create(
        owner=user,
        room=room,
        style="modern",
        room_type="living_room",
        status=status,
        deadline_at=timezone.now() + timedelta(minutes=15),
        **fields,
    )


async def open_socket(
    cookie: str | None = None, origin: str | None = ORIGIN, query: str = ""
) -> tuple[WebsocketCommunicator, bool]:
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/generations/{query}", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def snapshot_ids(communicator: WebsocketCommunicator) -> list[str]:
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "generation.snapshot"
    return [payload["id"] for payload in message["payload"]["generations"]]
