"""Limits the user understands: 402 with a reason and a reset date, tier changes and grants at once, usage, warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services as billing
from billing.models import Account, LedgerEntry, Tier
from tests.support.api import client_for
from tests.support.billing import account_of, assert_balanced, held
from tests.support.jobs import create, fail, make_room, succeed

pytestmark = pytest.mark.django_db


def post_generation(client, room_id, **fields):
    return client.post("/api/v1/generations/", {"room": str(room_id), "style": "modern", **fields}, format="json")


def test_at_the_quota_the_api_answers_402_quota_exceeded_with_resets_at(user_on):
    user = user_on("erin", monthly_quota=2)
    client, room = client_for(user), make_room(user)
    assert [post_generation(client, room.pk).status_code for _ in range(2)] == [202, 202]
    response = post_generation(client, room.pk)
    assert response.status_code == 402
    error = response.json()["error"]
    account = account_of(user)
    assert error["code"] == "quota_exceeded"
    assert datetime.fromisoformat(error["resets_at"]) == account.period_end
    assert (error["generations_used"], error["generations_limit"]) == (2, 2)
    assert "all 2 generations of your Erin-Tier plan" in error["message"]
    assert f"It resets on {account.period_end.day} {account.period_end:%B %Y}." in error["message"]


def test_at_the_budget_the_api_answers_402_budget_exceeded(user_on):
    # Room for a job of four low 1536x1024 images and one of two (each held with its input's tokens), not a third.
    budget = held(n=4) + held(n=2) + Decimal("0.0010")
    user = user_on("erin", monthly_budget_usd=budget)
    client, room = client_for(user), make_room(user)
    assert post_generation(client, room.pk, quality="low", n=4).status_code == 202
    assert post_generation(client, room.pk, quality="low", n=2).status_code == 202
    response = post_generation(client, room.pk, quality="low")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and error["resets_at"]
    assert (error["spend_usd"], error["budget_usd"]) == (f"{held(n=4) + held(n=2):.4f}", f"{budget:.4f}")
    assert f"past its ${budget:.2f} budget" in error["message"]


def test_a_released_generation_gives_its_room_back(user_on):
    user = user_on("erin", monthly_quota=1)
    room = make_room(user)
    first = create(user, room)
    assert post_generation(client_for(user), room.pk).status_code == 402
    fail(first)
    assert post_generation(client_for(user), room.pk).status_code == 202


def test_a_tier_change_takes_effect_at_once(alice):
    client, room = client_for(alice), make_room(alice)
    Account.objects.filter(user=alice).update(generations_used=10, spend_usd=Decimal("0.5"))
    LedgerEntry.objects.create(
        account=account_of(alice),
        kind="capture",
        period_start=account_of(alice).period_start,
        generations_used=10,
        spend_usd=Decimal("0.5"),
    )
    assert post_generation(client, room.pk).json()["error"]["code"] == "quota_exceeded"
    assert post_generation(client, room.pk, quality="high").status_code == 403  # not on the Free plan

    billing.set_tier(alice, "pro")
    assert post_generation(client, room.pk, quality="high", n=2).status_code == 202
    usage = client.get("/api/v1/usage/").json()
    assert (usage["tier"], usage["generations_limit"], usage["budget_usd"]) == ("pro", 200, "40.0000")
    change = LedgerEntry.objects.get(account__user=alice, kind="tier_change")
    assert change.note == "free -> pro"
    assert_balanced(alice)


def test_granted_quota_lets_the_user_continue_and_is_audited(user_on, admin_user):
    user = user_on("erin", monthly_quota=1)
    room = make_room(user)
    create(user, room)
    assert post_generation(client_for(user), room.pk).status_code == 402
    billing.grant_quota(user, 2, actor=admin_user, note="apology for the outage")
    assert [post_generation(client_for(user), room.pk).status_code for _ in range(3)] == [202, 202, 402]
    grant = LedgerEntry.objects.get(account__user=user, kind="grant")
    assert (grant.extra_quota, grant.actor, grant.note) == (2, admin_user, "apology for the outage")
    assert client_for(user).get("/api/v1/usage/").json()["generations_limit"] == 3
    assert_balanced(user)


def test_a_grant_must_be_positive(alice, admin_user):
    with pytest.raises(ValueError):
        billing.grant_quota(alice, 0, actor=admin_user)


def test_allowed_sizes_constrain_the_output_size(user_on):
    user = user_on("erin", allowed_sizes=["1024x1024"])
    generation = create(user, make_room(user, 900, 600), quality="low")
    assert (generation.size, generation.estimated_cost_usd) == ("1024x1024", held("low", "1024x1024"))


@pytest.mark.parametrize(
    ("allowed", "wanted", "given"),
    [
        (["1024x1024", "1536x1024", "1024x1536"], "1536x1024", "1536x1024"),
        (["1024x1024", "1024x1536"], "1536x1024", "1024x1024"),
        (["1024x1536"], "1024x1024", "1024x1536"),
        ([], "1536x1024", "1024x1024"),
    ],
)
def test_a_tier_gives_the_allowed_size_closest_to_the_photo(allowed, wanted, given):
    assert Tier(allowed_sizes=allowed).fit_size(wanted) == given


def test_a_tier_caps_images_per_request(alice):
    response = post_generation(client_for(alice), make_room(alice).pk, n=2)
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_images"


def test_usage_matches_the_ledger_to_the_cent(alice):
    room = make_room(alice)
    succeed(create(alice, room, quality="medium"), cost="0.063")
    succeed(create(alice, room, quality="low"), cost="0.016")
    fail(create(alice, room))
    create(alice, room, quality="medium")
    usage = client_for(alice).get("/api/v1/usage/").json()
    totals = billing.ledger_totals(account_of(alice))
    assert usage["spend_usd"] == f"{totals['spend_usd']:.4f}" == "0.0790"
    assert usage["generations_used"] == totals["generations_used"] == 2
    assert usage["reserved_usd"] == f"{totals['reserved_usd']:.4f}" == f"{held('medium'):.4f}"
    assert usage["generations_reserved"] == 1
    assert (usage["tier"], usage["generations_limit"], usage["budget_usd"]) == ("free", 10, "1.0000")
    assert_balanced(alice)


def start_last_month(user):
    """Put the account's figures in the previous period, as if the month had ended."""
    account = account_of(user)
    last_month = account.period_start - timedelta(days=31)
    Account.objects.filter(pk=account.pk).update(period_start=last_month, period_end=account.period_start)
    Account.objects.filter(pk=account.pk, warned_period_start__isnull=False).update(warned_period_start=last_month)
    LedgerEntry.objects.filter(account=account).update(period_start=last_month)


def test_the_period_rolls_over_and_limits_reset(user_on, admin_user):
    user = user_on("erin", monthly_quota=1)
    room = make_room(user)
    succeed(create(user, room))
    billing.grant_quota(user, 1, actor=admin_user)
    succeed(create(user, room))
    assert post_generation(client_for(user), room.pk).status_code == 402
    start_last_month(user)

    usage = client_for(user).get("/api/v1/usage/").json()
    start, end = billing.month_bounds(timezone.now())
    assert (usage["generations_used"], usage["spend_usd"], usage["generations_limit"]) == (0, "0.0000", 1)
    assert (datetime.fromisoformat(usage["period_start"]), datetime.fromisoformat(usage["period_end"])) == (start, end)
    assert post_generation(client_for(user), room.pk).status_code == 202
    assert LedgerEntry.objects.filter(account__user=user, kind="rollover").count() == 1
    assert_balanced(user)


def test_a_hold_from_last_period_settles_into_this_one(user_on):
    user = user_on("erin", monthly_quota=1)
    generation = create(user, make_room(user))
    start_last_month(user)
    succeed(generation, cost="0.016")
    account = assert_balanced(user)
    assert (account.generations_used, account.spend_usd, account.reserved_generations) == (1, Decimal("0.016"), 0)


def test_month_bounds_roll_over_the_year():
    start, end = billing.month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_the_user_is_warned_once_per_period_at_80_percent(user_on, mailoutbox, django_capture_on_commit_callbacks):
    user = user_on("erin", monthly_quota=5)
    room = make_room(user)

    def one_more() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            succeed(create(user, room))

    for _ in range(3):
        one_more()
    assert mailoutbox == [] and account_of(user).usage_fraction() == pytest.approx(0.6)
    one_more()
    assert len(mailoutbox) == 1
    one_more()
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["erin@example.com"] and "80%" in mail.subject
    assert "4 of your 5 generations" in mail.body and "It resets on" in mail.body
    assert account_of(user).warned_period_start == account_of(user).period_start

    start_last_month(user)
    for _ in range(4):
        one_more()
    assert len(mailoutbox) == 2


def test_the_budget_counts_toward_the_warning(user_on, mailoutbox, django_capture_on_commit_callbacks):
    user = user_on("erin", monthly_budget_usd=Decimal("0.07"))
    generation = create(user, make_room(user), n=3)  # held at about $0.06
    with django_capture_on_commit_callbacks(execute=True):
        succeed(generation, cost=str(generation.estimated_cost_usd))
    assert generation.estimated_cost_usd / Decimal("0.07") >= Decimal("0.8")
    assert len(mailoutbox) == 1 and f"{generation.estimated_cost_usd / Decimal('0.07'):.0%}" in mailoutbox[0].subject


def test_a_limit_change_rearms_the_warning(user_on, mailoutbox, django_capture_on_commit_callbacks):
    user = user_on("erin", monthly_quota=1)
    with django_capture_on_commit_callbacks(execute=True):
        succeed(create(user, make_room(user)))
    assert len(mailoutbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        billing.set_tier(user, "business")
    assert len(mailoutbox) == 1 and account_of(user).warned_period_start is None
    with django_capture_on_commit_callbacks(execute=True):
        billing.set_tier(user, "erin-tier")  # back at 100% of the small plan: warned again
    assert len(mailoutbox) == 2


def test_a_stale_period_shows_no_usage():
    account = Account(generations_used=10, spend_usd=Decimal("1"), period_end=timezone.now() - timedelta(seconds=1))
    assert account.usage_fraction() == 0.0
