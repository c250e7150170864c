"""The default tiers, created by `manage.py seed_tiers` and the first migration run of `make run`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

SIZES = ["1024x1024", "1024x1536", "1536x1024"]

DEFAULT_TIERS: list[dict[str, Any]] = [
    {
        "slug": "free",
        "name": "Free",
        "monthly_quota": 10,
        "monthly_budget_usd": Decimal("1.00"),
        "max_in_flight": 2,
        "queue": "gen.standard",
        "priority": 0,
        "allowed_qualities": ["low", "medium", "auto"],
        "allowed_sizes": SIZES,
        "max_images": 1,
        "cache_ttl_days": 7,
        # Free jobs may fail over to FLUX Kontext Pro ($0.04 an image), never to a dearer fallback.
        "fallback_max_usd": Decimal("0.05"),
        "storage_limit_mb": 200,
        "is_default": True,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "monthly_quota": 200,
        "monthly_budget_usd": Decimal("40.00"),
        "max_in_flight": 5,
        "queue": "gen.priority",
        "priority": 10,
        "allowed_qualities": ["low", "medium", "high", "auto"],
        "allowed_sizes": SIZES,
        "max_images": 4,
        "cache_ttl_days": 30,
        "storage_limit_mb": 5000,
        "is_default": False,
    },
    {
        "slug": "business",
        "name": "Business",
        "monthly_quota": 2000,
        "monthly_budget_usd": Decimal("400.00"),
        "max_in_flight": 20,
        "queue": "gen.priority",
        "priority": 20,
        "allowed_qualities": ["low", "medium", "high", "auto"],
        "allowed_sizes": SIZES,
        "max_images": 4,
        "cache_ttl_days": 90,
        "storage_limit_mb": 50000,
        "is_default": False,
    },
]
