"""The integrating developer's path through the real stack: token, upload, generate, signed webhook."""

from __future__ import annotations

import pytest
import requests

from tests.support.images import room_photo
from tests.support.stack import Web
from tests.support.waiting import wait_for
from tests.support.webhooks import verify_webhook

pytestmark = pytest.mark.stack


def session_for(web: Web, username: str) -> requests.Session:
    session = requests.Session()
    token = session.post(
        f"{web.url}/api/v1/auth/token/", json={"username": username, "password": "correct horse battery"}
    )
    assert token.status_code == 200, token.text
    session.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return session


def test_a_developer_generates_with_curl_like_calls_and_receives_a_signed_webhook(
    web_for_hooks, hook_worker, receiver, make_user
):
    web = web_for_hooks
    make_user("dana")
    api = session_for(web, "dana")

    endpoint = api.post(f"{web.url}/api/v1/webhook-endpoints/", json={"url": receiver.url})
    assert endpoint.status_code == 201, endpoint.text
    secret = endpoint.json()["secret"]
    room = api.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("room.jpg", room_photo(), "image/jpeg")},
        data={"room_type": "living_room"},
    ).json()
    created = api.post(
        f"{web.url}/api/v1/generations/",
        json={"room": room["id"], "style": "japandi", "callback_url": receiver.url},
    )
    assert created.status_code == 202, created.text

    (hook,) = receiver.wait_for(1, timeout=60)
    assert verify_webhook(secret, hook.headers, hook.body)
    event = hook.json()
    assert event["type"] == "generation.succeeded"
    shown = api.get(f"{web.url}/api/v1/generations/{created.json()['id']}/").json()
    assert event["data"] == shown and shown["status"] == "succeeded"
    deliveries = wait_for(
        lambda: (
            (d := api.get(f"{web.url}/api/v1/webhook-deliveries/").json()["results"])
            and d[0]["status"] == "succeeded"
            and d
        ),
        10,
        0.2,
        "the delivery to be logged",
    )
    assert deliveries[0]["message_id"] == hook.headers["webhook-id"]


def test_the_worker_retries_a_failed_delivery_with_the_same_id(web_for_hooks, hook_worker, receiver, make_user):
    web = web_for_hooks
    make_user("erin")
    api = session_for(web, "erin")
    receiver.statuses = [503, 500, 200]
    secret = api.post(f"{web.url}/api/v1/webhook-endpoints/", json={"url": receiver.url}).json()["secret"]
    room = api.post(
        f"{web.url}/api/v1/rooms/", files={"photo": ("r.jpg", room_photo(), "image/jpeg")}, data={"room_type": "office"}
    ).json()
    generation = api.post(f"{web.url}/api/v1/generations/", json={"room": room["id"], "style": "modern"}).json()
    api.post(f"{web.url}/api/v1/generations/{generation['id']}/cancel/")

    first, second, third = receiver.wait_for(3, timeout=30)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    assert second.at - first.at >= 0.45 and third.at - second.at >= 0.9, "backoff grows"
    assert all(verify_webhook(secret, r.headers, r.body) for r in (first, second, third))
    # Cancelled, or (once the worker has sent its call, cancel answers 409) succeeded: the event names what it became.
    final = api.get(f"{web.url}/api/v1/generations/{generation['id']}/").json()["status"]
    assert first.json()["type"] == f"generation.{final}"
