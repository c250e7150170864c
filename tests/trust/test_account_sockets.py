"""Deleting an account closes the user's open sockets, in whichever process holds them, and no one else's."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async as in_thread
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from generation import privacy
from interiorai.asgi import application
from web.consumers import CLOSE_ACCOUNT_CLOSED

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def open_socket(cookie: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/generations/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "generation.snapshot"
    return communicator


async def test_the_users_sockets_close_and_a_reconnect_is_refused(alice: Any, bob: Any) -> None:
    alice_cookie = await in_thread(session_cookie)(alice)
    first, second = await open_socket(alice_cookie), await open_socket(alice_cookie)
    bobs = await open_socket(await in_thread(session_cookie)(bob))

    assert await in_thread(privacy.close_account)(alice)

    for socket in (first, second):
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": CLOSE_ACCOUNT_CLOSED}
    assert await bobs.receive_nothing(timeout=0.5)
    again = WebsocketCommunicator(
        application,
        "/ws/generations/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={alice_cookie}".encode()),
        ],
    )
    connected, _ = await again.connect(timeout=5)
    assert not connected, "her session no longer opens a socket"
    await bobs.disconnect()
