"""The one flow everything hangs on, through the real stack: upload, generate, download, and isolation."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image, ImageChops, ImageStat

from tests.support.images import room_photo
from tests.support.waiting import wait_for

pytestmark = pytest.mark.stack


def login(web, username: str, password: str = "correct horse battery") -> requests.Session:
    session = requests.Session()
    response = session.post(f"{web.url}/api/v1/auth/token/", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    session.headers["Authorization"] = f"Token {response.json()['token']}"
    return session


def test_a_user_uploads_a_room_and_downloads_its_redesign(web, worker, provider, make_user):
    make_user("alice")
    make_user("bob")
    alice, bob = login(web, "alice"), login(web, "bob")
    photo = room_photo(900, 600)

    room = alice.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("room.jpg", photo, "image/jpeg")},
        data={"name": "Lounge", "room_type": "living_room"},
    )
    assert room.status_code == 201, room.text
    room = room.json()
    assert (room["width"], room["height"]) == (900, 600)

    created = alice.post(f"{web.url}/api/v1/generations/", json={"room": room["id"], "style": "scandinavian"})
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["status"] == "queued" and body["position"] >= 1
    assert body["estimated_wait_s"] > 0 and float(body["estimated_cost_usd"]) > 0

    url = f"{web.url}/api/v1/generations/{body['id']}/"
    done = wait_for(lambda: (g := alice.get(url).json())["status"] in ("succeeded", "failed") and g, 60, 0.2, "result")
    assert done["status"] == "succeeded", done
    assert done["progress"] == 100 and done["attempts"] == 1 and float(done["cost_usd"]) > 0
    assert provider.stats()["requests_total"] == 1

    image = alice.get(web.url + done["images"][0])
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    result = Image.open(io.BytesIO(image.content))
    result.load()
    assert result.size == (1536, 1024)  # the landscape size closest to the photo's 3:2
    original = Image.open(io.BytesIO(photo)).convert("RGB").resize(result.size)
    difference = ImageStat.Stat(ImageChops.difference(original, result.convert("RGB"))).mean
    assert sum(difference) / 3 > 5, "the redesign must not be the input returned unchanged"

    # Bob sees none of it: not the room, not the job, not the files.
    for path in (
        f"/api/v1/rooms/{room['id']}/",
        f"/api/v1/generations/{body['id']}/",
        done["images"][0],
        room["photo_url"],
    ):
        response = bob.get(web.url + path)
        assert response.status_code == 404, path
    assert bob.get(f"{web.url}/api/v1/generations/").json()["results"] == []
    assert bob.post(f"{web.url}/api/v1/generations/{body['id']}/cancel/").status_code == 404
    assert requests.get(web.url + done["images"][0]).status_code in (401, 403)


def test_usage_reports_the_captured_cost(web, worker, provider, make_user):
    make_user("carol")
    carol = login(web, "carol")
    room = carol.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("r.png", room_photo(fmt="PNG"), "image/png")},
        data={"room_type": "bedroom"},
    ).json()
    gen = carol.post(f"{web.url}/api/v1/generations/", json={"room": room["id"], "style": "japandi", "quality": "low"})
    assert gen.status_code == 202
    done = wait_for(
        lambda: (
            (g := carol.get(f"{web.url}/api/v1/generations/{gen.json()['id']}/").json())["status"] == "succeeded" and g
        ),
        60,
        0.2,
        "success",
    )
    usage = carol.get(f"{web.url}/api/v1/usage/").json()
    assert usage["generations_used"] == 1
    assert usage["spend_usd"] == done["cost_usd"]
    assert usage["reserved_usd"] == "0.0000"
