"""The API the way its clients use it: a token per user, and a room uploaded as multipart."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from developers.tokens import create_token
from tests.support.images import room_photo


def client_for(user: Any) -> APIClient:
    client = APIClient()
    _, key = create_token(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def upload_room(client: APIClient, photo: bytes | None = None, **fields: Any) -> Any:
    data = {"name": "Living room", "room_type": "living_room", **fields}
    data["photo"] = SimpleUploadedFile("room.jpg", photo if photo is not None else room_photo(), "image/jpeg")
    return client.post("/api/v1/rooms/", data, format="multipart")
