"""What an image call costs, by provider, model, size, quality and number of images (USD).

The table holds OpenAI's list price per output image. A deployment overrides any part of it with the
PRICE_TABLE_JSON setting, e.g. `{"gpt-image-1": {"high": {"1024x1024": "0.19"}}}`, merged into the defaults
down to single prices; a key `"<provider>/<model>"` prices one provider's model differently from OpenAI's.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

SQUARE = "1024x1024"
PORTRAIT = "1024x1536"
LANDSCAPE = "1536x1024"
SIZES = (SQUARE, PORTRAIT, LANDSCAPE)
QUALITY_ORDER = ("low", "standard", "medium", "high", "hd")
DEFAULT_MODEL = "gpt-image-1"

PriceTable = dict[str, dict[str, dict[str, str]]]

# OpenAI list prices per output image (openai.com/api/pricing, image generation, 2025). gpt-image models
# bill `auto` quality at the quality they actually used, which the response reports: a call is reserved at
# the highest price and captured at the reported one.
PRICES: PriceTable = {
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
# The sandbox speaks OpenAI's API and is priced like it, so local runs show the money real ones would cost.
PRICED_AS = {"sandbox": "openai"}


def price_table() -> PriceTable:
    """The defaults with the PRICE_TABLE_JSON setting merged in."""
    return _merged(getattr(settings, "PRICE_TABLE_JSON", "") or "")


@functools.lru_cache(maxsize=4)
def _merged(override_json: str) -> PriceTable:
    table = {model: {q: dict(sizes) for q, sizes in qualities.items()} for model, qualities in PRICES.items()}
    if not override_json:
        return table
    try:
        override = json.loads(override_json)
        for model, qualities in override.items():
            for quality, sizes in qualities.items():
                for size, price in sizes.items():
                    if Decimal(str(price)) < 0:
                        raise ValueError(price)
                    table.setdefault(model, {}).setdefault(quality, {})[size] = str(price)
    except (ValueError, TypeError, AttributeError, InvalidOperation) as exc:
        raise ImproperlyConfigured(
            'PRICE_TABLE_JSON must look like {"model": {"quality": {"WxH": "0.042"}}} with prices >= 0'
        ) from exc
    return table


def _model_prices(provider: str, model: str) -> dict[str, dict[str, str]]:
    table = price_table()
    provider = PRICED_AS.get(provider, provider)
    prices = table.get(f"{provider}/{model}") or table.get(model)
    if prices is None:
        log.warning("no price for %s/%s; priced as %s", provider, model, DEFAULT_MODEL)
        prices = table[DEFAULT_MODEL]
    return prices


def _rank(quality: str) -> int:
    return QUALITY_ORDER.index(quality) if quality in QUALITY_ORDER else -1


def unit_price(model: str, size: str, quality: str, *, provider: str = "openai") -> Decimal:
    """Price of one image; `auto` and unknown combinations cost the model's most expensive image (never zero)."""
    prices = _model_prices(provider, model)
    if quality not in prices:
        quality = max(prices, key=_rank)
    by_size = prices[quality]
    return Decimal(by_size.get(size) or max(by_size.values(), key=Decimal))


def estimate(model: str, size: str, quality: str, n: int, *, provider: str = "openai") -> Decimal:
    """The most a call can cost: what is reserved before it is made."""
    return unit_price(model, size, quality, provider=provider) * n


def estimate_any(models: Iterable[str], size: str, quality: str, n: int, *, provider: str = "openai") -> Decimal:
    """The most the call can cost on whichever of `models` (primary and fallbacks) ends up serving it."""
    return max(estimate(model, size, quality, n, provider=provider) for model in models)


def actual(model: str, size: str, quality: str, images: int, *, provider: str = "openai") -> Decimal:
    """What a call that returned `images` images at the reported size and quality cost."""
    return unit_price(model, size, quality, provider=provider) * images
