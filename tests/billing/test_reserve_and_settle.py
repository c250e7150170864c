"""Reserve at create, settle exactly once: capture on success, release on failure, cancel, timeout, worker loss."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import services as billing
from billing.models import LedgerEntry
from core.api import ApiError
from generation import finish, services
from generation.models import Generation
from generation.runtime import leases, sweeper
from tests.support.api import client_for
from tests.support.billing import account_of, assert_balanced, held
from tests.support.jobs import WORKER, create, fail, make_room, succeed

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind


def kinds(generation):
    return sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True))


def test_creating_a_generation_reserves_its_estimate_and_quota(alice):
    generation = create(alice, make_room(alice), quality="medium", n=1)
    # A 4:3 photo is redesigned as a landscape: its output, and its input (prompt and photo tokens) at most.
    assert generation.estimated_cost_usd == held("medium") > Decimal("0.063")
    account = assert_balanced(alice)
    assert (account.reserved_generations, account.reserved_usd) == (1, held("medium"))
    assert (account.generations_used, account.spend_usd) == (0, 0)
    assert kinds(generation) == [Kind.RESERVE]


def test_a_refused_request_leaves_no_row_and_no_reservation(user_on):
    user = user_on("erin", monthly_quota=0)
    with pytest.raises(ApiError):
        create(user, make_room(user))
    assert not Generation.objects.filter(owner=user).exists()
    assert not LedgerEntry.objects.filter(account__user=user, kind=Kind.RESERVE).exists()
    assert assert_balanced(user).reserved_generations == 0


def test_success_captures_the_actual_cost_once(alice):
    generation = succeed(create(alice, make_room(alice), quality="auto"), cost="0.063")
    account = assert_balanced(alice)
    assert (account.generations_used, account.spend_usd) == (1, Decimal("0.063"))
    assert (account.reserved_generations, account.reserved_usd) == (0, 0)
    assert not billing.settle(generation, charge_usd=Decimal("0.063"))
    assert not billing.settle(generation, charge_usd=None)
    assert kinds(generation) == [Kind.CAPTURE, Kind.RESERVE]
    assert assert_balanced(alice).spend_usd == Decimal("0.063")


def test_a_failed_generation_is_released_and_shown_as_not_charged(alice):
    generation = fail(create(alice, make_room(alice)))
    account = assert_balanced(alice)
    assert (account.generations_used, account.spend_usd, account.reserved_usd) == (0, 0, 0)
    assert kinds(generation) == [Kind.RELEASE, Kind.RESERVE]
    body = client_for(alice).get(f"/api/v1/generations/{generation.pk}/").json()
    assert body["status"] == "failed" and body["charged"] is False and body["cost_usd"] == "0.0000"
    assert "not charged" in body["error"]["message"]


def test_cancelling_releases_the_reservation(alice):
    generation = create(alice, make_room(alice))
    response = client_for(alice).post(f"/api/v1/generations/{generation.pk}/cancel/")
    assert response.status_code == 200 and response.json()["charged"] is False
    assert kinds(generation) == [Kind.RELEASE, Kind.RESERVE]
    assert assert_balanced(alice).reserved_usd == 0


def test_a_result_that_arrives_after_cancel_is_not_charged(alice):
    generation = create(alice, make_room(alice))
    claimed = leases.claim(str(generation.pk), WORKER)
    finish.cancel(claimed)
    assert not finish.succeed(claimed, WORKER, image_names=[], cost=Decimal("0.016"))
    account = assert_balanced(alice)
    assert (account.spend_usd, account.generations_used, account.reserved_usd) == (0, 0, 0)


def test_a_timed_out_generation_is_released(alice):
    generation = create(alice, make_room(alice))
    Generation.objects.filter(pk=generation.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert sweeper.expire_past_deadline() == 1
    generation.refresh_from_db()
    assert generation.status == "failed" and generation.error_code == "deadline"
    assert kinds(generation) == [Kind.RELEASE, Kind.RESERVE]
    assert assert_balanced(alice).reserved_usd == 0


def test_a_lost_worker_keeps_the_hold_while_retrying_and_releases_it_when_giving_up(alice, settings):
    generation = create(alice, make_room(alice))
    leases.claim(str(generation.pk), WORKER)
    expired = timezone.now() - timedelta(seconds=1)
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=expired, attempts=1)
    assert sweeper.recover_dead_workers() == 1
    generation.refresh_from_db()
    assert generation.status == "queued" and kinds(generation) == [Kind.RESERVE]

    leases.claim(str(generation.pk), WORKER)
    attempts = settings.GENERATION_MAX_ATTEMPTS
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=expired, attempts=attempts)
    assert sweeper.recover_dead_workers() == 1
    generation.refresh_from_db()
    assert generation.status == "failed" and generation.error_code == "worker_lost"
    assert kinds(generation) == [Kind.RELEASE, Kind.RESERVE]
    assert assert_balanced(alice).reserved_usd == 0


def test_a_result_that_cost_nothing_uses_no_money_and_no_quota(alice):
    generation = succeed(create(alice, make_room(alice)), cost="0")
    account = assert_balanced(alice)
    assert (account.generations_used, account.spend_usd, account.reserved_usd) == (0, 0, 0)
    body = client_for(alice).get(f"/api/v1/generations/{generation.pk}/").json()
    assert body["charged"] is False


def test_a_result_served_from_the_cache_costs_nothing_even_at_the_quota(user_on, result_cache):
    user = user_on("erin", monthly_quota=1)
    room = make_room(user)
    first = succeed(create(user, room, quality="medium"))
    again = create(user, room, quality="medium")
    assert (again.status, again.cached, again.cached_from_id) == ("succeeded", True, first.pk)
    assert not LedgerEntry.objects.filter(generation=again).exists()
    account = assert_balanced(user)
    assert (account.generations_used, account.spend_usd, account.reserved_usd) == (1, held("medium"), 0)
    assert client_for(user).get(f"/api/v1/generations/{again.pk}/").json()["charged"] is False


def test_a_twin_of_a_job_in_flight_holds_its_own_room_and_is_released(
    user_on, result_cache, django_capture_on_commit_callbacks
):
    user = user_on("erin", monthly_quota=2)
    room = make_room(user)
    leader = create(user, room)
    follower = create(user, room)
    assert follower.cached_from_id == leader.pk and kinds(follower) == [Kind.RESERVE]
    assert assert_balanced(user).reserved_generations == 2
    with pytest.raises(ApiError):
        create(user, room)  # the twin's hold counts against the quota like any other
    with django_capture_on_commit_callbacks(execute=True):
        succeed(leader)
    follower.refresh_from_db()
    assert (follower.status, follower.cached, follower.cost_usd) == ("succeeded", True, 0)
    assert kinds(follower) == [Kind.RELEASE, Kind.RESERVE]
    account = assert_balanced(user)
    assert (account.generations_used, account.reserved_generations, account.reserved_usd) == (1, 0, 0)


def test_the_charge_never_exceeds_the_hold(alice):
    generation = create(alice, make_room(alice), quality="low")
    succeed(generation, cost="5.00")
    account = assert_balanced(alice)
    assert account.spend_usd == generation.estimated_cost_usd == held("low")
    capture = LedgerEntry.objects.get(generation=generation, kind=Kind.CAPTURE)
    assert "5.00" in capture.note


def test_the_database_refuses_a_second_settlement(alice):
    generation = fail(create(alice, make_room(alice)))
    account = account_of(alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=account, generation=generation, kind=Kind.CAPTURE, period_start=account.period_start
        )


def test_a_refund_gives_back_this_periods_charge_once(alice, admin_user):
    generation = succeed(create(alice, make_room(alice), quality="medium"))
    assert services.refund(generation, actor=admin_user, note="bad result")
    assert not services.refund(generation, actor=admin_user)
    account = assert_balanced(alice)
    assert (account.spend_usd, account.generations_used) == (0, 0)
    generation.refresh_from_db()
    assert generation.billing_state == "released"
    refund = LedgerEntry.objects.get(generation=generation, kind=Kind.REFUND)
    assert (refund.actor, refund.spend_usd, refund.note) == (admin_user, -held("medium"), "bad result")


def test_a_refund_from_a_closed_period_is_recorded_but_changes_nothing(alice, admin_user):
    generation = succeed(create(alice, make_room(alice)))
    LedgerEntry.objects.filter(generation=generation).update(period_start=timezone.now() - timedelta(days=40))
    account = account_of(alice)
    account.generations_used, account.spend_usd = 0, Decimal("0")
    account.save(update_fields=["generations_used", "spend_usd"])  # the figures of the new period
    assert services.refund(generation, actor=admin_user)
    assert assert_balanced(alice).spend_usd == 0
    assert "closed period" in LedgerEntry.objects.get(generation=generation, kind=Kind.REFUND).note


def test_nothing_can_be_refunded_that_was_not_charged(alice, admin_user):
    generation = fail(create(alice, make_room(alice)))
    assert not services.refund(generation, actor=admin_user)
    assert not services.refund(create(alice, make_room(alice)), actor=admin_user)
