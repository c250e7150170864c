"""Synthetic room photos for the load generators (`make bench`, `make chaos`)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def room_photo(seed: int, side: int = 640) -> bytes:
    """A synthetic room, different for every seed (so no two uploads share a result cache entry)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (side, side), (rng.randint(150, 230), rng.randint(150, 230), rng.randint(150, 230)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(side * 0.66), side, side], fill=(rng.randint(80, 160), 90, 60))
    x = rng.randint(0, side // 2)
    draw.rectangle([x, int(side * 0.15), x + side // 4, int(side * 0.5)], fill=(170, 210, 240))
    draw.rectangle(
        [int(side * 0.1), int(side * 0.5), int(side * 0.45), int(side * 0.72)], fill=(80, 80, rng.randint(60, 140))
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
