"""What an image call costs: list prices per image by model, size and quality (USD)."""

from __future__ import annotations

import json
from decimal import Decimal

from django.conf import settings

SQUARE = "1024x1024"
PORTRAIT = "1024x1536"
LANDSCAPE = "1536x1024"

# OpenAI list prices per output image (platform pricing page, 2025). `auto` quality is reserved at the
# highest price and captured at the quality the provider reports it actually used.
PRICES: dict[str, dict[str, dict[str, str]]] = {
    "gpt-image-1": {
        "low": {SQUARE: "0.011", PORTRAIT: "0.016", LANDSCAPE: "0.016"},
        "medium": {SQUARE: "0.042", PORTRAIT: "0.063", LANDSCAPE: "0.063"},
        "high": {SQUARE: "0.167", PORTRAIT: "0.25", LANDSCAPE: "0.25"},
    },
    "gpt-image-1-mini": {
        "low": {SQUARE: "0.005", PORTRAIT: "0.006", LANDSCAPE: "0.006"},
        "medium": {SQUARE: "0.011", PORTRAIT: "0.015", LANDSCAPE: "0.015"},
        "high": {SQUARE: "0.036", PORTRAIT: "0.052", LANDSCAPE: "0.052"},
    },
    "gpt-image-1.5": {
        "low": {SQUARE: "0.009", PORTRAIT: "0.013", LANDSCAPE: "0.013"},
        "medium": {SQUARE: "0.034", PORTRAIT: "0.05", LANDSCAPE: "0.05"},
        "high": {SQUARE: "0.133", PORTRAIT: "0.2", LANDSCAPE: "0.2"},
    },
    "dall-e-2": {
        "standard": {"256x256": "0.016", "512x512": "0.018", SQUARE: "0.02"},
    },
}
QUALITY_ORDER = ["low", "medium", "high"]


def price_table() -> dict[str, dict[str, dict[str, str]]]:
    """The defaults, overridden per model by the JSON in the PRICE_TABLE_JSON setting when set."""
    override = getattr(settings, "PRICE_TABLE_JSON", "")
    if not override:
        return PRICES
    return {**PRICES, **json.loads(override)}


def unit_price(model: str, size: str, quality: str) -> Decimal:
    """Price of one image; unknown combinations cost the model's most expensive image (never zero)."""
    table = price_table().get(model) or price_table()["gpt-image-1"]
    if quality not in table:
        quality = max(table, key=lambda q: QUALITY_ORDER.index(q) if q in QUALITY_ORDER else -1)
    by_size = table[quality]
    return Decimal(by_size.get(size) or max(by_size.values(), key=Decimal))


def estimate(model: str, size: str, quality: str, n: int) -> Decimal:
    """The most a call can cost: what is reserved before it is made."""
    return unit_price(model, size, quality) * n


def actual(model: str, size: str, quality: str, images: int) -> Decimal:
    """What a call that returned `images` images at the reported size and quality cost."""
    return unit_price(model, size, quality) * images
