"""Billing helpers: tiers made to measure, rooms, and a stand-in worker that claims and settles jobs in-process."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from billing.models import Account, Tier
from billing.services import ensure_account, ledger_totals
from tests.conftest import room_photo

WORKER = "test-worker"


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
        from billing.services import set_tier

        user = make_user(username)
        set_tier(user, make_tier(f"{username}-tier", **tier_fields).slug)
        return user

    return make


def make_room(user: Any, width: int = 800, height: int = 600) -> Any:
    from generation.rooms import create_room

    return create_room(user, name="Lounge", room_type="living_room", photo_bytes=room_photo(width, height))


def create(user: Any, room: Any, **fields: Any) -> Any:
    from generation.services import create_generation

    spec = {"style": "modern", "room_type": "living_room", "prompt": "", "quality": "low", "n": 1, **fields}
    return create_generation(user, room, **spec)


def succeed(generation: Any, cost: Decimal | str | None = None) -> Any:
    """Run the job the way a worker ends it: claim it, then finish it with `cost` (its estimate by default)."""
    from generation import finish
    from generation.runtime import leases

    claimed = leases.claim(str(generation.pk), WORKER)
    assert claimed is not None, "the job could not be claimed"
    charge = generation.estimated_cost_usd if cost is None else Decimal(cost)
    names = [f"results/{generation.pk.hex}/{index}.jpg" for index in range(generation.n)]  # never read here
    assert finish.succeed(claimed, WORKER, image_names=names, cost=charge)
    claimed.refresh_from_db()
    return claimed


def fail(generation: Any, code: str = "provider_error") -> Any:
    from generation import finish

    assert finish.fail(generation, code=code, message="The provider failed. You were not charged.")
    generation.refresh_from_db()
    return generation


def account_of(user: Any) -> Account:
    return Account.objects.select_related("tier").get(pk=ensure_account(user).pk)


def assert_balanced(user: Any) -> Account:
    """The account row equals the sum of its ledger, figure by figure."""
    account = account_of(user)
    totals = ledger_totals(account)
    for name, value in totals.items():
        assert getattr(account, name) == value, f"{name}: row {getattr(account, name)} != ledger {value}"
    return account
