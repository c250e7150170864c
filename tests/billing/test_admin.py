"""The Django admin for ops and support: pages load for staff and nobody else, actions audit, no N+1 queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import services as billing
from billing.models import Account, LedgerEntry, Tier
from generation import services
from generation.models import Generation, ProviderCall
from tests.support.api import client_for
from tests.support.billing import account_of, assert_balanced, held
from tests.support.jobs import create, fail, make_room, succeed

pytestmark = pytest.mark.django_db


def admin_pages(generation: Generation, account: Account) -> list[str]:
    return [
        reverse("admin:index"),
        reverse("admin:billing_tier_changelist"),
        reverse("admin:billing_tier_add"),
        reverse("admin:billing_tier_change", args=[account.tier_id]),
        reverse("admin:billing_account_changelist"),
        reverse("admin:billing_account_change", args=[account.pk]),
        reverse("admin:billing_ledgerentry_changelist"),
        reverse("admin:billing_ledgerentry_changelist") + f"?account__id__exact={account.pk}",
        reverse("admin:billing_ledgerentry_changelist") + f"?generation__id__exact={generation.pk}",
        reverse("admin:billing_dailysummary_changelist"),
        reverse("admin:billing_dailysummary_changelist") + "?days=7&tier=free",
        reverse("admin:generation_generation_changelist"),
        reverse("admin:generation_generation_changelist")
        + f"?status__exact=failed&owner__account__tier__id__exact={account.tier_id}&error_code__exact=provider_error",
        reverse("admin:generation_generation_change", args=[generation.pk]),
        reverse("admin:generation_room_changelist"),
    ]


@pytest.fixture
def failed(alice):
    return fail(create(alice, make_room(alice)))


def test_every_page_loads_for_staff(admin_client, alice, failed):
    for url in admin_pages(failed, account_of(alice)):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_the_pages_refuse_everyone_else(client, alice, failed, django_user_model):
    pages = admin_pages(failed, account_of(alice))
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    client.force_login(alice)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    staff = django_user_model.objects.create_user("intern", password="x", is_staff=True)
    client.force_login(staff)
    for url in pages[1:]:
        assert client.get(url).status_code == 403, url


def test_changing_a_tier_in_the_admin_changes_the_limits_at_once(admin_client, admin_user, alice):
    account = account_of(alice)
    pro = Tier.objects.get(slug="pro")
    url = reverse("admin:billing_account_change", args=[account.pk])
    response = admin_client.post(url, {"tier": pro.pk, "grant_generations": "", "note": ""})
    assert response.status_code == 302
    usage = client_for(alice).get("/api/v1/usage/").json()
    assert (usage["tier"], usage["generations_limit"], usage["max_images"]) == ("pro", 200, 4)
    change = LedgerEntry.objects.get(account=account, kind="tier_change")
    assert (change.actor, change.note) == (admin_user, "free -> pro")
    assert_balanced(alice)


def test_granting_quota_in_the_admin_is_audited(admin_client, admin_user, alice):
    account = account_of(alice)
    Account.objects.filter(pk=account.pk).update(spend_usd=Decimal("0"))  # a stale copy must not be written back
    url = reverse("admin:billing_account_change", args=[account.pk])
    response = admin_client.post(url, {"tier": account.tier_id, "grant_generations": "5", "note": "outage"})
    assert response.status_code == 302
    assert client_for(alice).get("/api/v1/usage/").json()["generations_limit"] == 15
    grant = LedgerEntry.objects.get(account=account, kind="grant")
    assert (grant.extra_quota, grant.actor, grant.note) == (5, admin_user, "outage")
    assert not LedgerEntry.objects.filter(account=account, kind="tier_change").exists()
    assert_balanced(alice)


def test_accounts_can_be_moved_in_bulk(admin_client, admin_user, alice, bob):
    accounts = [account_of(alice).pk, account_of(bob).pk]
    response = admin_client.post(
        reverse("admin:billing_account_changelist"), {"action": "move_to_business", "_selected_action": accounts}
    )
    assert response.status_code == 302
    assert set(Account.objects.filter(pk__in=accounts).values_list("tier__slug", flat=True)) == {"business"}
    assert LedgerEntry.objects.filter(kind="tier_change", actor=admin_user).count() == 2


def test_money_fields_cannot_be_edited(admin_client, alice):
    account = account_of(alice)
    url = reverse("admin:billing_account_change", args=[account.pk])
    admin_client.post(url, {"tier": account.tier_id, "spend_usd": "99", "extra_quota": "99", "generations_used": "9"})
    assert_balanced(alice)
    assert (account_of(alice).spend_usd, account_of(alice).extra_quota) == (0, 0)


def test_a_failed_generation_can_be_retried_by_support(admin_client, admin_user, alice, failed):
    response = admin_client.post(
        reverse("admin:generation_generation_changelist"), {"action": "retry_failed", "_selected_action": [failed.pk]}
    )
    assert response.status_code == 302
    fresh = Generation.objects.exclude(pk=failed.pk).get(owner=alice)
    assert (fresh.status, fresh.room_id, fresh.style, fresh.quality) == ("queued", failed.room_id, "modern", "low")
    reserve = LedgerEntry.objects.get(generation=fresh, kind="reserve")
    assert reserve.actor == admin_user and str(failed.pk) in reserve.note
    assert assert_balanced(alice).reserved_generations == 1


def test_a_retry_respects_the_owners_limits(admin_client, alice, failed):
    Tier.objects.filter(slug="free").update(monthly_quota=0)
    response = admin_client.post(
        reverse("admin:generation_generation_changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert "You have used all 0 generations" in response.content.decode()
    assert Generation.objects.filter(owner=alice).count() == 1


def test_a_charged_generation_can_be_refunded_once(admin_client, admin_user, alice):
    done = succeed(create(alice, make_room(alice), quality="medium"))
    changelist = reverse("admin:generation_generation_changelist")
    for _ in range(2):
        admin_client.post(changelist, {"action": "refund", "_selected_action": [done.pk]})
    refund = LedgerEntry.objects.get(generation=done, kind="refund")
    assert (refund.actor, refund.spend_usd) == (admin_user, -held("medium"))
    account = assert_balanced(alice)
    assert (account.spend_usd, account.generations_used) == (0, 0)
    assert client_for(alice).get(f"/api/v1/generations/{done.pk}/").json()["charged"] is False


def test_view_only_staff_cannot_refund(client, django_user_model, alice):
    done = succeed(create(alice, make_room(alice)))
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client.force_login(viewer)
    changelist = reverse("admin:generation_generation_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "refund", "_selected_action": [done.pk]})
    assert not LedgerEntry.objects.filter(kind="refund").exists()


def test_generations_cannot_be_deleted_or_edited_in_the_admin(admin_client, alice, failed):
    assert admin_client.get(reverse("admin:generation_generation_delete", args=[failed.pk])).status_code == 403
    url = reverse("admin:generation_generation_change", args=[failed.pk])
    admin_client.post(url, {"status": "succeeded", "cost_usd": "9"})
    failed.refresh_from_db()
    assert (failed.status, failed.cost_usd) == ("failed", 0)


def test_the_tier_form_offers_qualities_and_sizes_and_keeps_one_default(admin_client):
    data = {
        "name": "Studio",
        "slug": "studio",
        "monthly_quota": "50",
        "monthly_budget_usd": "10",
        "allowed_qualities": ["low", "medium"],
        "allowed_sizes": ["1024x1024"],
        "max_images": "2",
        "max_in_flight": "3",
        "queue": "gen.priority",
        "priority": "5",
        "cache_ttl_days": "30",
    }
    assert admin_client.post(reverse("admin:billing_tier_add"), data).status_code == 302
    studio = Tier.objects.get(slug="studio")
    assert (studio.allowed_qualities, studio.allowed_sizes) == (["low", "medium"], ["1024x1024"])

    response = admin_client.post(reverse("admin:billing_tier_change", args=[studio.pk]), {**data, "is_default": "on"})
    assert response.status_code == 200 and "already the default" in response.content.decode()
    response = admin_client.post(reverse("admin:billing_tier_change", args=[studio.pk]), {**data, "queue": "gen.vip"})
    assert response.status_code == 200 and not Tier.objects.filter(queue="gen.vip").exists()


def test_only_a_tier_without_accounts_can_be_deleted(admin_client, alice, make_tier):
    free = Tier.objects.get(slug="free")
    assert admin_client.get(reverse("admin:billing_tier_delete", args=[free.pk])).status_code == 403
    empty = make_tier("empty")
    assert admin_client.post(reverse("admin:billing_tier_delete", args=[empty.pk]), {"post": "yes"}).status_code == 302
    assert not Tier.objects.filter(slug="empty").exists()


def test_the_daily_summary_adds_up_volume_and_money(admin_client, admin_user, alice, bob):
    room = make_room(alice)
    kept = succeed(create(alice, room, quality="medium"), cost="0.063")
    refunded = succeed(create(alice, room, quality="low"), cost="0.016")
    services.refund(refunded, actor=admin_user)
    fail(create(bob, make_room(bob)))
    create(bob, make_room(bob))
    ProviderCall.objects.create(generation=kept, attempt=1, provider="sandbox", model="gpt-image-1", cost_usd="0.063")
    response = admin_client.get(reverse("admin:billing_dailysummary_changelist"))
    today, total = response.context["rows"][0], response.context["total"]
    assert (today.created, today.succeeded, today.failed, today.images, today.calls) == (4, 2, 1, 2, 1)
    assert (today.charged_usd, today.refunded_usd) == (Decimal("0.079"), Decimal("0.016"))
    assert today.net_usd == Decimal("0.063")
    assert today.provider_cost_usd == Decimal("0.063")
    assert (total.created, total.net_usd) == (4, Decimal("0.063"))
    assert len(response.context["rows"]) == 30
    pro_only = admin_client.get(reverse("admin:billing_dailysummary_changelist") + "?tier=pro")
    assert pro_only.context["total"].created == 0


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries)


def test_changelists_do_not_grow_queries_with_rows(admin_client, admin_user, make_user):
    changelists = [
        reverse("admin:generation_generation_changelist"),
        reverse("admin:generation_generation_changelist") + "?status__exact=failed",
        reverse("admin:billing_account_changelist"),
        reverse("admin:billing_ledgerentry_changelist"),
        reverse("admin:billing_tier_changelist"),
        reverse("admin:generation_room_changelist"),
        reverse("admin:billing_dailysummary_changelist"),
    ]

    def add_users(names: list[str]) -> None:
        for name in names:
            user = make_user(name, tier="business")
            room = make_room(user)
            fail(create(user, room))
            billing_grant(user)
            succeed(create(user, room))
            create(user, room)

    def billing_grant(user) -> None:
        billing.grant_quota(user, 1, actor=admin_user)

    add_users(["u0", "u1"])
    few = [count_queries(admin_client, url) for url in changelists]
    add_users([f"u{index}" for index in range(2, 9)])
    many = [count_queries(admin_client, url) for url in changelists]
    assert many == few
    assert max(few) <= 12
