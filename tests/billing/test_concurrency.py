"""An attacker's burst: dozens of simultaneous requests from one account with room for five, on Postgres."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db import connection

from billing.models import LedgerEntry, Tier
from generation.models import Generation
from tests.support.api import client_for
from tests.support.billing import assert_balanced, held
from tests.support.concurrency import all_at_once
from tests.support.jobs import make_room

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks under real concurrency need PostgreSQL (SQLite serialises every writer); CI runs Postgres",
)

REQUESTS = 30


def burst(user: Any, room_id: Any, count: int = REQUESTS, *, identical: bool = False) -> list[tuple[int, str]]:
    """Fire `count` create requests at once from one account, each on its own thread and connection."""
    clients = [client_for(user) for _ in range(count)]

    def attack(index: int) -> tuple[int, str]:
        prompt = "a bright room" if identical else f"burst number {index:02d}"
        body = {"room": str(room_id), "style": "modern", "quality": "low", "prompt": prompt}
        response = clients[index].post("/api/v1/generations/", body, format="json")
        code = response.json().get("error", {}).get("code", "") if response.status_code != 202 else ""
        return response.status_code, code

    return all_at_once(count, attack)


def assert_exactly_five_accepted(user: Any, results: list[tuple[int, str]], code: str) -> None:
    assert Counter(status for status, _ in results) == {202: 5, 402: REQUESTS - 5}
    assert {error for status, error in results if status == 402} == {code}
    assert Generation.objects.filter(owner=user).count() == 5
    assert LedgerEntry.objects.filter(account__user=user, kind="reserve").count() == 5
    account = assert_balanced(user)
    assert account.reserved_generations == 5


def test_a_burst_gets_exactly_the_quota_left(transactional_db, user_on):
    user = user_on("mallory", monthly_quota=5)
    results = burst(user, make_room(user).pk)
    assert_exactly_five_accepted(user, results, "quota_exceeded")


def test_a_burst_of_identical_requests_gets_no_more_through_the_result_cache(transactional_db, user_on, result_cache):
    user = user_on("mallory", monthly_quota=5)
    results = burst(user, make_room(user).pk, identical=True)
    assert_exactly_five_accepted(user, results, "quota_exceeded")
    assert assert_balanced(user).reserved_usd == 5 * held("low", prompt="a bright room")


def test_a_burst_gets_exactly_the_budget_left(transactional_db, user_on):
    budget = 5 * held("low", prompt="burst number 10")  # five jobs' holds (their prompts are as long)
    user = user_on("mallory", monthly_budget_usd=budget)
    results = burst(user, make_room(user).pk)
    assert_exactly_five_accepted(user, results, "budget_exceeded")
    assert assert_balanced(user).reserved_usd == budget


def test_a_burst_from_a_user_without_an_account_yet_counts_right(transactional_db, make_user):
    user = make_user("trudy")
    Tier.objects.filter(is_default=True).update(monthly_quota=5)
    user.account.delete()  # the burst itself creates the account, once
    results = burst(user, make_room(user).pk)
    assert_exactly_five_accepted(user, results, "quota_exceeded")
