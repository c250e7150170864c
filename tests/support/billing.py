"""The books: an account as the database holds it, and the check that its row agrees with its ledger."""

from __future__ import annotations

from typing import Any

from billing import pricing
from billing.models import Account
from billing.services import ensure_account, ledger_totals
from generation.styles import build_prompt


def account_of(user: Any) -> Account:
    return Account.objects.select_related("tier").get(pk=ensure_account(user).pk)


def assert_balanced(user: Any) -> Account:
    """The account row equals the sum of its ledger, figure by figure."""
    account = account_of(user)
    totals = ledger_totals(account)
    for name, value in totals.items():
        assert getattr(account, name) == value, f"{name}: row {getattr(account, name)} != ledger {value}"
    return account


def held(
    quality: str = "low", size: str = "1536x1024", n: int = 1, prompt: str = "", room_type: str = "living_room"
) -> Any:
    """The hold of a modern-style job on gpt-image-1: its output, and its prompt and photo tokens at most."""
    return pricing.hold("openai", "gpt-image-1", size, quality, n, prompt=build_prompt("modern", room_type, prompt))
