"""manage.py set_tier, seed_tiers and check_ledger."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Account, LedgerEntry, Tier
from billing.services import seed_tiers
from tests.support.billing import account_of

pytestmark = pytest.mark.django_db


def test_set_tier_moves_a_user_and_records_it(alice):
    out = StringIO()
    call_command("set_tier", "alice", "business", stdout=out)
    assert "alice is now on Business" in out.getvalue()
    assert account_of(alice).tier.slug == "business"
    assert LedgerEntry.objects.filter(account__user=alice, kind="tier_change", note="free -> business").exists()


def test_set_tier_names_what_is_wrong(alice):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("set_tier", "nobody", "pro")
    with pytest.raises(CommandError, match=r"no tier 'gold' \(tiers: .*free"):
        call_command("set_tier", "alice", "gold")


def test_set_tier_works_for_a_user_who_never_used_the_product(django_user_model):
    django_user_model.objects.create_user("newbie")
    call_command("set_tier", "newbie", "pro", stdout=StringIO())
    assert Account.objects.get(user__username="newbie").tier.slug == "pro"


def test_the_default_tiers_are_seeded_once_and_never_overwritten():
    Tier.objects.filter(slug="pro").update(monthly_quota=7)
    assert seed_tiers() == 0
    tiers = {tier.slug: tier for tier in Tier.objects.all()}
    assert {"free", "pro", "business"} <= set(tiers)
    assert tiers["pro"].monthly_quota == 7
    assert [tier.slug for tier in Tier.objects.filter(is_default=True)] == ["free"]
    assert tiers["free"].allowed_sizes == ["1024x1024", "1024x1536", "1536x1024"]
    assert tiers["business"].queue == tiers["pro"].queue == "gen.priority"


def test_check_ledger_finds_an_account_that_disagrees(alice, bob):
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "2 accounts agree" in out.getvalue()
    Account.objects.filter(user=bob).update(spend_usd=Decimal("0.5"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 of 2 accounts"):
        call_command("check_ledger", stdout=StringIO(), stderr=err)
    assert "bob: spend_usd row=0.5000 ledger=0" in err.getvalue()
