"""Billing fixtures: fast personas, the result cache off (or on, exact only), and tiers made to measure."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from billing.models import Tier
from billing.services import set_tier


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Personas are made by the dozen here; PBKDF2's deliberate slowness would dominate the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_result_cache(settings: Any) -> None:
    """These tests repeat requests to count money; a repeat served from the cache would count nothing."""
    settings.CACHE_ENABLED = False


@pytest.fixture
def result_cache(settings: Any) -> None:
    """The result cache on (exact matches only), for the tests of what it costs."""
    settings.CACHE_ENABLED = True
    settings.CACHE_SEMANTIC = False


@pytest.fixture
def make_tier(db: None) -> Callable[..., Tier]:
    def make(slug: str, **fields: Any) -> Tier:
        spec: dict[str, Any] = {
            "name": slug.title(),
            "monthly_quota": 100,
            "monthly_budget_usd": Decimal("100"),
            "max_in_flight": 5,
            "allowed_qualities": ["low", "medium", "high", "auto"],
            "max_images": 4,
            **fields,
        }
        return Tier.objects.create(slug=slug, **spec)

    return make


@pytest.fixture
def user_on(make_user: Callable[..., Any], make_tier: Callable[..., Tier]) -> Callable[..., Any]:
    """A user on a fresh tier of their own, with the given limits."""

    def make(username: str, **tier_fields: Any) -> Any:
        user = make_user(username)
        set_tier(user, make_tier(f"{username}-tier", **tier_fields).slug)
        return user

    return make
