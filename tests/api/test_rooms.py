"""POST/GET/DELETE /api/v1/rooms/: only real images are stored, re-encoded and stripped; only for their owner."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from generation.models import Room
from tests.support.api import client_for, upload_room
from tests.support.images import room_photo

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT) / "rooms"
    return sorted(p.name for p in root.glob("*")) if root.exists() else []


def test_it_stores_a_re_encoded_photo_without_exif(api, settings):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N"}  # GPS IFD
    response = upload_room(api, room_photo(640, 480, exif=exif.tobytes()))
    assert response.status_code == 201, response.content
    room = Room.objects.get(pk=response.json()["id"])
    with room.photo.open("rb") as f:
        stored = Image.open(io.BytesIO(f.read()))
    assert stored.format == "JPEG" and stored.size == (640, 480)
    assert not stored.getexif()
    assert room.photo.name.startswith("rooms/") and "room.jpg" not in room.photo.name
    assert len(room.photo_sha256) == 64


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"this is not an image", 400, "invalid_image"),
        (room_photo()[:2000], 400, "invalid_image"),
        (b"", 400, "invalid"),
        (room_photo(20, 20), 400, "image_too_small"),
    ],
    ids=["not-an-image", "truncated", "empty", "tiny"],
)
def test_it_refuses_bad_photos_with_a_clear_error_and_stores_nothing(api, settings, payload, status, code):
    response = upload_room(api, payload)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert Room.objects.count() == 0
    assert stored_files(settings) == []


def test_it_refuses_an_absurd_pixel_count(api, settings):
    settings.MAX_UPLOAD_PIXELS = 100_000
    response = upload_room(api, room_photo(1000, 1000, fmt="PNG"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_too_large"
    assert Room.objects.count() == 0


def test_it_refuses_an_oversized_file(api, settings):
    settings.MAX_UPLOAD_BYTES = 1_000
    response = upload_room(api, room_photo(800, 600))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert Room.objects.count() == 0


def test_it_refuses_a_decompression_bomb(api):
    # A tiny PNG that claims 30000 x 30000 pixels.
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000)).save(bomb, "PNG")
    response = upload_room(api, bomb.getvalue())
    assert response.status_code == 413
    assert Room.objects.count() == 0


def test_missing_fields_are_named(api):
    response = api.post("/api/v1/rooms/", {"name": "x"}, format="multipart")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and "photo" in body["fields"] and "room_type" in body["fields"]


def test_an_unknown_room_type_is_refused(api):
    response = upload_room(api, room_type="dungeon")
    assert response.status_code == 400 and "room_type" in response.json()["error"]["fields"]


def test_rooms_are_private_to_their_owner(api, bob):
    room = upload_room(api).json()
    other = client_for(bob)
    assert other.get(f"/api/v1/rooms/{room['id']}/").status_code == 404
    assert other.delete(f"/api/v1/rooms/{room['id']}/").status_code == 404
    assert other.get(room["photo_url"]).status_code == 404
    assert other.get("/api/v1/rooms/").json()["results"] == []
    assert api.get(room["photo_url"]).status_code == 200
    assert Room.objects.count() == 1


def test_deleting_a_room_removes_its_photo(api, settings, django_capture_on_commit_callbacks):
    room = upload_room(api).json()
    assert len(stored_files(settings)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/rooms/{room['id']}/").status_code == 204
    assert api.get(f"/api/v1/rooms/{room['id']}/").status_code == 404
    assert stored_files(settings) == []


def test_anonymous_callers_get_401(client):
    response = client.get("/api/v1/rooms/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
