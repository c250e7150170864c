"""What an image call costs (USD): what is held before it, and what the provider that served it charges.

OpenAI bills an edit by tokens: the prompt's text tokens and the input photo's image tokens in, the image tokens
out, each at its list price per million (TOKEN_PRICES), all reported in the answer's `usage`. A call is charged
from that `usage`; without one (a model that reports none), at the per-image table (PRICES) plus the input's tokens
estimated the way OpenAI counts them. Replicate bills a prediction per output image or per second of run time
(REPLICATE_PRICES), from the prediction's `metrics`.

A hold must cover the most the call can cost: the dearest output (per-image table or its output tokens, whichever is
more), the prompt at one token per byte (a token is never shorter), and the largest input photo OpenAI bills (the
photo is scaled into 768 px tiles before it is counted); for Replicate, per image, or per second for as long as a
prediction may run.

A deployment overrides any price with PRICE_TABLE_JSON, merged into the defaults down to single prices:
`{"gpt-image-1": {"high": {"1024x1024": "0.19"}, "tokens": {"image_output": "40"}},
"replicate/black-forest-labs/flux-kontext-pro": {"per_image": "0.04"}}`; a key `"<provider>/<model>"` prices one
provider's model differently from OpenAI's.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

SQUARE = "1024x1024"
PORTRAIT = "1024x1536"
LANDSCAPE = "1536x1024"
SIZES = (SQUARE, PORTRAIT, LANDSCAPE)
QUALITY_ORDER = ("low", "standard", "medium", "high", "hd")
DEFAULT_MODEL = "gpt-image-1"

PriceTable = dict[str, dict[str, Any]]
MILLION = Decimal(1_000_000)

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
# OpenAI's token list prices per million tokens (openai.com/api/pricing, image generation): text in, image in,
# image out.
TOKEN_PRICES: dict[str, dict[str, str]] = {
    "gpt-image-1": {"text_input": "5.00", "image_input": "10.00", "image_output": "40.00"},
    "gpt-image-1-mini": {"text_input": "2.00", "image_input": "2.50", "image_output": "8.00"},
    "gpt-image-1.5": {"text_input": "5.00", "image_input": "8.00", "image_output": "32.00"},
}
# Image tokens one output image costs, by quality and size (OpenAI's table for its GPT image models).
OUTPUT_TOKENS = {
    "low": {SQUARE: 272, PORTRAIT: 408, LANDSCAPE: 400},
    "medium": {SQUARE: 1056, PORTRAIT: 1584, LANDSCAPE: 1568},
    "high": {SQUARE: 4160, PORTRAIT: 6240, LANDSCAPE: 6208},
}
# The most image tokens one input photo is billed (scaled to fit 2048 px, then 768 px on the short side: at most
# 2 x 3 tiles of 512 px, 170 tokens each, plus 85).
MAX_INPUT_IMAGE_TOKENS = 85 + 170 * 6
# Replicate: per output image, or per second the prediction ran (replicate.com/pricing).
REPLICATE_PRICES: dict[str, dict[str, str]] = {
    "black-forest-labs/flux-kontext-pro": {"per_image": "0.04"},
    "black-forest-labs/flux-kontext-max": {"per_image": "0.08"},
    "black-forest-labs/flux-kontext-dev": {"per_image": "0.025"},
}
# A model Replicate prices by run time is held for this long at most (a prediction is cancelled after it).
REPLICATE_MAX_RUN_S = 180
# The sandbox and Azure speak OpenAI's API and are priced like it, so local runs show the money real ones would cost.
PRICED_AS = {"sandbox": "openai", "azure": "openai"}


@dataclass(frozen=True)
class Usage:
    """What the provider reported for one call: OpenAI's tokens, or Replicate's images and run time."""

    text_input_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    text_output_tokens: int = 0
    images: int | None = None
    predict_time_s: float | None = None

    @property
    def has_tokens(self) -> bool:
        return bool(self.text_input_tokens or self.image_input_tokens or self.image_output_tokens)

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value}


def price_table() -> PriceTable:
    """The defaults with the PRICE_TABLE_JSON setting merged in."""
    return _merged(getattr(settings, "PRICE_TABLE_JSON", "") or "")


@functools.lru_cache(maxsize=4)
def _merged(override_json: str) -> PriceTable:
    defaults: PriceTable = {
        model: {q: dict(sizes) for q, sizes in qualities.items()} for model, qualities in PRICES.items()
    }
    for model, rates in TOKEN_PRICES.items():
        defaults[model]["tokens"] = dict(rates)
    for model, prices in REPLICATE_PRICES.items():
        defaults[f"replicate/{model}"] = dict(prices)
    if not override_json:
        return defaults
    try:
        override = json.loads(override_json)
        for model, entries in override.items():
            for key, value in entries.items():
                if isinstance(value, dict):
                    for size, price in value.items():
                        defaults.setdefault(model, {}).setdefault(key, {})[size] = _price(price)
                else:
                    defaults.setdefault(model, {})[key] = _price(value)
    except (ValueError, TypeError, AttributeError, InvalidOperation) as exc:
        raise ImproperlyConfigured(
            'PRICE_TABLE_JSON must look like {"model": {"quality": {"WxH": "0.042"}}} (or "tokens": {...}, '
            '"per_image": "0.04", "per_second": "0.001") with prices >= 0'
        ) from exc
    return defaults


def _price(value: object) -> str:
    if isinstance(value, dict | list | bool) or Decimal(str(value)) < 0:
        raise ValueError(value)
    return str(value)


def _model_prices(provider: str, model: str) -> dict[str, dict[str, str]]:
    table = price_table()
    family = PRICED_AS.get(provider, provider)
    prices = table.get(f"{provider}/{model}") or table.get(f"{family}/{model}") or table.get(model)
    if prices is None or not any(isinstance(v, dict) and k != "tokens" for k, v in prices.items()):
        log.warning("no price for %s/%s; priced as %s", provider, model, DEFAULT_MODEL)
        prices = table[DEFAULT_MODEL]
    return {quality: sizes for quality, sizes in prices.items() if isinstance(sizes, dict) and quality != "tokens"}


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


# What a call is held at and charged, by the provider family that serves it -----------------------------------


def hold(provider: str, model: str, size: str, quality: str, n: int, *, prompt: str = "") -> Decimal:
    """The most one call of `n` images can cost on this provider's model: what is reserved before it is made."""
    if PRICED_AS.get(provider, provider) == "replicate":
        return _replicate_rate(model, n, None, seconds=REPLICATE_MAX_RUN_S)
    rates = token_rates(provider, model)
    per_image = unit_price(model, size, quality, provider=provider)
    if rates is None:
        return per_image * n
    qualities = [quality] if quality in OUTPUT_TOKENS else list(OUTPUT_TOKENS)
    tokens = max(OUTPUT_TOKENS[q].get(size, max(OUTPUT_TOKENS[q].values())) for q in qualities)
    output = max(per_image, tokens * rates["image_output"] / MILLION) * n
    prompt_bound = len(prompt.encode()) * rates["text_input"] / MILLION
    return _cents4(output + prompt_bound + MAX_INPUT_IMAGE_TOKENS * rates["image_input"] / MILLION)


def hold_any(targets: Iterable[tuple[str, str]], size: str, quality: str, n: int, *, prompt: str = "") -> Decimal:
    """The most the call can cost on whichever of the (provider, model) targets ends up serving it."""
    return max(hold(provider, model, size, quality, n, prompt=prompt) for provider, model in targets)


def charge(
    provider: str,
    model: str,
    size: str,
    quality: str,
    images: int,
    *,
    usage: Usage | None = None,
    prompt: str = "",
    photo_size: tuple[int, int] | None = None,
) -> Decimal:
    """What the provider charges for a call that returned `images` images: from its reported usage when it has one."""
    usage = usage or Usage()
    if PRICED_AS.get(provider, provider) == "replicate":
        return _replicate_rate(model, usage.images or images, usage.predict_time_s, seconds=None)
    rates = token_rates(provider, model)
    if rates is None:
        return unit_price(model, size, quality, provider=provider) * images
    if usage.has_tokens:
        cost = (
            usage.text_input_tokens * rates["text_input"]
            + usage.image_input_tokens * rates["image_input"]
            + (usage.image_output_tokens + usage.text_output_tokens) * rates["image_output"]
        ) / MILLION
        return _cents4(cost)
    # No usage reported: the table's output price, and the input counted as OpenAI counts it.
    text = math.ceil(len(prompt) / 4) * rates["text_input"]
    photo = input_image_tokens(*photo_size) if photo_size else MAX_INPUT_IMAGE_TOKENS
    return _cents4(
        unit_price(model, size, quality, provider=provider) * images + (text + photo * rates["image_input"]) / MILLION
    )


def token_rates(provider: str, model: str) -> dict[str, Decimal] | None:
    """The model's token prices per million (text_input, image_input, image_output), or None if it has none."""
    table = price_table()
    family = PRICED_AS.get(provider, provider)
    entry = table.get(f"{family}/{model}", {}).get("tokens") or table.get(model, {}).get("tokens")
    if not entry:
        return None
    return {kind: Decimal(str(entry.get(kind, "0"))) for kind in ("text_input", "image_input", "image_output")}


def input_image_tokens(width: int, height: int) -> int:
    """The tokens OpenAI bills for an input photo: scaled into 2048 px, then 768 px on its short side, 170 a tile."""
    fit = min(1.0, 2048 / max(width, height))
    shrink = fit * min(1.0, 768 / (min(width, height) * fit))
    return 85 + 170 * math.ceil(width * shrink / 512) * math.ceil(height * shrink / 512)


def replicate_price(model: str) -> dict[str, Decimal]:
    """A Replicate model's `per_image` or `per_second` price; an unknown model at the dearest known per-image price."""
    entry = price_table().get(f"replicate/{model}")
    if not entry:
        log.warning("no price for replicate/%s; priced at the dearest known model", model)
        dearest = max(Decimal(p["per_image"]) for p in REPLICATE_PRICES.values())
        return {"per_image": dearest}
    return {key: Decimal(str(value)) for key, value in entry.items() if key in ("per_image", "per_second")}


def _replicate_rate(model: str, images: int, run_s: float | None, *, seconds: float | None) -> Decimal:
    prices = replicate_price(model)
    if "per_image" in prices:
        return prices["per_image"] * images
    ran = Decimal(str(seconds if seconds is not None else run_s or 0))
    return _cents4(prices.get("per_second", Decimal("0")) * ran * (images if seconds is not None else 1))


def _cents4(amount: Decimal) -> Decimal:
    """Money is kept to four decimals (the database's precision), rounded up: never below the bill."""
    return amount.quantize(Decimal("0.0001"), rounding="ROUND_CEILING")
