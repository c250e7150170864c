"""Synthetic room photos: small, made in memory, different per seed or size when a test needs them apart."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw


def room_photo(
    width: int = 800, height: int = 600, fmt: str = "JPEG", seed: int = 0, exif: bytes | None = None
) -> bytes:
    """A small synthetic room: wall, floor, window, sofa."""
    image = Image.new("RGB", (width, height), (210 - seed % 40, 200, 185))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(height * 0.66), width, height], fill=(120, 90, 60))
    draw.rectangle([int(width * 0.6), int(height * 0.15), int(width * 0.85), int(height * 0.5)], fill=(170, 210, 240))
    draw.rectangle([int(width * 0.1), int(height * 0.5), int(width * 0.45), int(height * 0.72)], fill=(80, 80, 95))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {"exif": exif} if exif else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def make_room_photo(width: int = 800, height: int = 600, image_format: str = "PNG") -> bytes:
    """Draw a room-like photo: lit wall, darker floor, bright window, red sofa, a lamp (the sandbox's tests)."""
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
