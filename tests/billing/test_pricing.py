"""The cost model: list prices by provider, model, size, quality and image count, and the override table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing import pricing
from billing.pricing import LANDSCAPE, PORTRAIT, SQUARE


@pytest.mark.parametrize(
    ("model", "quality", "size", "price"),
    [
        ("gpt-image-1", "low", SQUARE, "0.011"),
        ("gpt-image-1", "medium", LANDSCAPE, "0.063"),
        ("gpt-image-1", "high", PORTRAIT, "0.25"),
        ("gpt-image-1-mini", "medium", SQUARE, "0.011"),
        ("gpt-image-1.5", "high", SQUARE, "0.133"),
        ("dall-e-2", "standard", SQUARE, "0.02"),
    ],
)
def test_it_prices_one_image_at_the_list_price(model, quality, size, price):
    assert pricing.unit_price(model, size, quality) == Decimal(price)


def test_it_multiplies_by_the_number_of_images():
    assert pricing.estimate("gpt-image-1", SQUARE, "medium", 3) == Decimal("0.126")
    assert pricing.actual("gpt-image-1", SQUARE, "medium", 2) == Decimal("0.084")


def test_auto_is_reserved_at_the_highest_price_and_captured_at_the_quality_billed():
    assert pricing.estimate("gpt-image-1", LANDSCAPE, "auto", 1) == Decimal("0.25")
    assert pricing.actual("gpt-image-1", LANDSCAPE, "medium", 1) == Decimal("0.063")


def test_unknown_models_sizes_and_qualities_are_never_free():
    assert pricing.unit_price("gpt-image-9", SQUARE, "low") == Decimal("0.011")
    assert pricing.unit_price("gpt-image-1", "4096x4096", "low") == Decimal("0.016")
    assert pricing.unit_price("gpt-image-1", SQUARE, "ultra") == Decimal("0.167")


def test_the_estimate_covers_the_dearest_fallback_model():
    models = ["gpt-image-1-mini", "gpt-image-1"]
    assert pricing.estimate_any(models, SQUARE, "high", 2) == Decimal("0.334")


def test_the_sandbox_is_priced_like_openai():
    assert pricing.unit_price("gpt-image-1", SQUARE, "low", provider="sandbox") == Decimal("0.011")


def test_the_setting_overrides_single_prices_and_providers(settings):
    settings.PRICE_TABLE_JSON = (
        '{"gpt-image-1": {"high": {"1024x1024": "0.19"}}, "azure/gpt-image-1": {"low": {"1024x1024": 0.02}}}'
    )
    assert pricing.unit_price("gpt-image-1", SQUARE, "high") == Decimal("0.19")
    assert pricing.unit_price("gpt-image-1", SQUARE, "low") == Decimal("0.011")  # the rest stays
    assert pricing.unit_price("gpt-image-1", SQUARE, "low", provider="azure") == Decimal("0.02")


@pytest.mark.parametrize("bad", ["not json", '{"gpt-image-1": ["x"]}', '{"m": {"low": {"1024x1024": "-1"}}}'])
def test_a_bad_price_table_fails_loudly(settings, bad):
    settings.PRICE_TABLE_JSON = bad
    with pytest.raises(ImproperlyConfigured):
        pricing.unit_price("gpt-image-1", SQUARE, "low")
