"""Request bodies are bounded before anyone is authenticated, and uploads decode only sane JPEG, PNG and WebP."""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from billing.models import Tier
from core.bodylimit import BodyLimit
from generation.models import Room
from tests.support.api import client_for, upload_room
from tests.support.images import room_photo
from tests.support.rawhttp import raw_request

MB = 1024 * 1024


def post_head(path: str, length: str, content_type: str = "application/json") -> str:
    return f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: {content_type}\nContent-Length: {length}"


@pytest.mark.stack
def test_an_anonymous_body_over_the_limit_is_refused_before_django_reads_it(web):
    body = b"x" * (3 * MB)
    response = raw_request(web.url, post_head("/api/v1/auth/token/", str(len(body))), body)
    assert response.status == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.stack
def test_json_bodies_are_limited_to_about_a_megabyte(web):
    body = json.dumps({"username": "x" * (MB + 1000), "password": "y"}).encode()
    response = raw_request(web.url, post_head("/api/v1/auth/token/", str(len(body))), body)
    assert response.status == 413 and response.json()["error"]["limit_bytes"] == MB


@pytest.mark.stack
def test_a_streamed_body_without_a_length_is_counted_and_cut_off(web):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40)) + b"0\r\n\r\n"  # 2.5 MB, chunked
    head = (
        "POST /api/v1/auth/token/ HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nTransfer-Encoding: chunked"
    )
    response = raw_request(web.url, head, body)
    assert response.status == 413 and response.json()["error"]["code"] == "request_too_large"


@pytest.mark.stack
def test_the_upload_address_takes_a_photo_but_not_more(web):
    two_mb = b"x" * (2 * MB)
    small = raw_request(web.url, post_head("/api/v1/rooms/", str(len(two_mb)), "application/octet-stream"), two_mb)
    assert small.status != 413, "a 2 MB photo may be sent where photos are uploaded"
    huge_body = b"x" * (16 * MB)
    for path in ("/api/v1/rooms/", "/rooms/new/"):
        huge = raw_request(web.url, post_head(path, str(len(huge_body)), "application/octet-stream"), huge_body)
        assert huge.status == 413, path


@pytest.mark.stack
@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "12 34"])
def test_a_non_numeric_content_length_gets_400_not_500(web, length):
    response = raw_request(web.url, post_head("/api/v1/auth/token/", length), b"{}")
    assert response.status == 400


async def test_the_guard_answers_400_in_the_api_envelope_for_a_bad_length():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not be reached")

    scope = {"type": "http", "path": "/api/v1/rooms/", "headers": [(b"content-length", b"lots")]}
    communicator = ApplicationCommunicator(BodyLimit(app, lambda path: MB), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(1)
    body = await communicator.receive_output(1)
    assert start["status"] == 400
    assert json.loads(body["body"])["error"]["code"] == "invalid_content_length"


def encoded(fmt: str, size: tuple[int, int] = (800, 600), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 180, 160) if mode == "RGB" else 0).save(out, fmt)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP", "ICO", "PCX", "TGA"])
def test_uploads_decode_only_jpeg_png_and_webp(alice, fmt):
    response = upload_room(client_for(alice), encoded(fmt, (256, 256) if fmt == "ICO" else (800, 600)))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_image"
    assert "JPEG, PNG or WebP" in response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_are_accepted(alice, fmt):
    assert upload_room(client_for(alice), encoded(fmt)).status_code == 201


@pytest.mark.django_db
def test_a_small_file_that_would_decode_to_a_huge_image_is_refused_before_decoding(alice):
    bomb = encoded("PNG", (6400, 6400), "RGBA")  # about 160 MB of pixels in a few hundred kilobytes
    assert len(bomb) < 1 * MB
    started = time.monotonic()
    response = upload_room(client_for(alice), bomb)
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_an_ordinary_phone_photo_still_fits_the_decoded_bound(alice):
    assert upload_room(client_for(alice), room_photo(4000, 3000)).status_code == 201


@pytest.mark.django_db
def test_each_tier_has_a_storage_quota_enforced_on_upload(alice):
    assert {tier.slug: tier.storage_limit_mb for tier in Tier.objects.all()} == {
        "free": 200,
        "pro": 5000,
        "business": 50000,
    }
    Tier.objects.filter(slug="free").update(storage_limit_mb=1)
    api = client_for(alice)
    noise = Image.frombytes("RGB", (700, 500), os.urandom(700 * 500 * 3))  # noise: about 600 KB as a JPEG
    out = io.BytesIO()
    noise.save(out, "PNG")
    photo = out.getvalue()
    statuses = [upload_room(api, photo).status_code for _ in range(5)]
    assert statuses[0] == 201 and statuses[-1] == 413, statuses
    assert sum(Room.objects.filter(owner=alice).values_list("photo_bytes", flat=True)) <= MB
    refused = upload_room(api, photo).json()["error"]
    assert refused["code"] == "storage_quota_exceeded" and refused["limit_bytes"] == MB
    assert refused["used_bytes"] <= MB


@pytest.mark.django_db
def test_the_web_upload_form_is_throttled_like_the_api(settings, alice):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"},
    }
    client = Client()
    client.force_login(alice)

    def upload() -> int:
        photo = SimpleUploadedFile("room.jpg", room_photo(), "image/jpeg")
        return client.post("/rooms/new/", {"name": "x", "room_type": "bedroom", "photo": photo}).status_code

    assert [upload() for _ in range(3)] == [302, 302, 302]
    assert upload() == 429
    assert upload_room(client_for(alice)).status_code == 429, "the API and the form share one budget"
