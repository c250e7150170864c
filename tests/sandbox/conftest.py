"""Fixtures for the sandbox tests: a running sandbox, an SDK client, and room photos."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from PIL import Image, ImageDraw

from sandbox.testing import SandboxHandle, running_sandbox


def make_room_photo(width: int = 800, height: int = 600, image_format: str = "PNG") -> bytes:
    """Draw a room-like photo: lit wall, darker floor, bright window, red sofa, a lamp."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = 200 - y * 80 // height
        draw.line((0, y, width, y), fill=(shade, shade - 10, shade - 30))
    draw.rectangle((0, height * 2 // 3, width, height), fill=(90, 60, 40))
    draw.rectangle((width // 2, height // 8, width * 3 // 4, height // 2), fill=(235, 240, 250))
    draw.rectangle((width // 10, height // 2, width // 2, height * 3 // 4), fill=(170, 30, 40))
    draw.ellipse((width * 8 // 10, height // 3, width * 9 // 10, height // 3 + height // 10), fill=(250, 220, 120))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def room_photo() -> bytes:
    return make_room_photo()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=7) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0, timeout=10)


def post_raw(
    url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """POST without the SDK, for requests it would refuse to build; return status, headers, JSON."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """Encode a multipart/form-data body; return it and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
