"""The pipeline against a real worker, real Redis and the sandbox over HTTP: faults, limits, breaker, loss."""

from __future__ import annotations

import time
from typing import Any

import pytest

from billing.models import Account
from billing.services import ledger_totals
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.provider.gates import breaker_for
from tests.support.api import client_for
from tests.support.jobs import recorded_calls, submit
from tests.support.waiting import wait_final, wait_for

pytestmark = pytest.mark.stack


def assert_books_balance(*users: Any) -> None:
    for user in users:
        account = Account.objects.get(user=user)
        totals = ledger_totals(account)
        assert totals["reserved_usd"] == account.reserved_usd == 0
        assert totals["spend_usd"] == account.spend_usd
        assert totals["generations_used"] == account.generations_used


def test_transient_failures_are_retried_until_every_job_succeeds(worker, provider, make_user):
    user = make_user("dave", tier="business")
    provider.configure(rate_500=0.25, rate_503=0.1, rate_drop=0.05, seed=3)
    ids = submit(user, 12)
    finals = [wait_final(pk, 90) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 12
    assert sum(g.attempts for g in finals) == recorded_calls() == provider.stats()["requests_total"]
    assert recorded_calls() > 12, "the fault profile should have forced some retries"
    assert all(g.cost_usd > 0 for g in finals)
    assert_books_balance(user)


def test_a_fatal_error_fails_at_once_with_words_and_no_charge(worker, provider, alice):
    (pk,) = submit(alice, 1, prompt="a FORBIDDEN design")
    generation = wait_final(pk, 30)
    assert generation.status == "failed" and generation.error_code == "content_policy"
    assert "content policy" in generation.error_message and "not charged" in generation.error_message
    assert generation.attempts == 1 == provider.stats()["requests_total"]
    assert generation.cost_usd == 0
    response = client_for(alice).get(f"/api/v1/generations/{pk}/").json()
    assert response["error"]["code"] == "content_policy" and response["charged"] is False
    assert_books_balance(alice)


def test_jobs_run_at_the_provider_limit_without_a_single_429(worker_factory, provider, make_user):
    # A time-scaled "minute" of 3 s with 4 requests in it: 10 jobs need three windows.
    worker_factory(PROVIDER_RPM="4", RATE_LIMIT_WINDOW_S="3", RATE_LIMIT_SAFETY_S="0.4", RATE_LIMIT_MAX_WAIT_S="0.5")
    provider.configure(rpm=4, window_s=3, latency_s_min=0.1, latency_s_max=0.2)
    user = make_user("erin", tier="business")
    started = time.monotonic()
    ids = submit(user, 10)
    finals = [wait_final(pk, 60) for pk in ids]
    took = time.monotonic() - started
    stats = provider.stats()
    assert [g.status for g in finals] == ["succeeded"] * 10
    assert stats["by_status"].get("429", 0) == 0
    assert stats["requests_total"] == 10 == recorded_calls()
    assert took >= 6.0, "10 jobs at 4 per 3 s cannot finish in under two windows"
    assert all(g.attempts == 1 for g in finals), "waiting for the limiter must not burn attempts"


def test_a_provider_429_pauses_all_workers_and_nobody_sees_it(worker, provider, make_user):
    user = make_user("frank", tier="business")
    provider.configure(rate_429=0.3, retry_after_s=1, seed=11)
    ids = submit(user, 8)
    finals = [wait_final(pk, 60) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 8
    assert recorded_calls() == provider.stats()["requests_total"]
    assert ProviderCall.objects.filter(status_code=429).exists()
    assert not any(g.error_code for g in finals)


def test_an_outage_opens_the_breaker_holds_jobs_and_recovers(worker_factory, provider, make_user):
    worker_factory(BREAKER_MIN_CALLS="3", BREAKER_OPEN_S="1", GENERATION_MAX_ATTEMPTS="6")
    user = make_user("gina", tier="business")
    provider.configure(outage=True)
    ids = submit(user, 10)
    breaker = breaker_for(targets()[0])
    wait_for(lambda: breaker.state() == "open", 30, what="the breaker to trip")
    time.sleep(0.5)  # calls already in flight when it tripped come back
    tripped_at = provider.stats()["requests_total"]
    time.sleep(3.0)
    # While open, jobs wait in the queue instead of hammering the provider: one probe per second at most.
    assert provider.stats()["requests_total"] - tripped_at <= 4
    assert Generation.objects.filter(pk__in=ids, status="failed").count() == 0
    provider.configure(outage=False)
    finals = [wait_final(pk, 60) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 10
    assert recorded_calls() == provider.stats()["requests_total"]
    assert_books_balance(user)


def test_the_fallback_model_takes_over_while_the_primary_is_down(worker_factory, provider, make_user):
    worker_factory(
        OPENAI_FALLBACK_MODELS="gpt-image-1-mini",
        BREAKER_MIN_CALLS="2",
        BREAKER_OPEN_S="30",
        GENERATION_MAX_ATTEMPTS="5",
    )
    provider.configure(outage_models="gpt-image-1")
    user = make_user("hank", tier="business")
    ids = submit(user, 6)
    finals = [wait_final(pk, 60) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 6
    assert {g.model for g in finals} == {"gpt-image-1-mini"}
    # Each job tries the primary at most once: after that its breaker is open and the fallback serves.
    assert ProviderCall.objects.filter(model="gpt-image-1", outcome="retryable").count() <= len(ids)
    assert recorded_calls() == provider.stats()["requests_total"]


def test_a_worker_killed_mid_call_loses_nothing_and_charges_once(worker_factory, beat, provider, make_user):
    provider.configure(latency_s_min=3, latency_s_max=3)
    doomed = worker_factory(GENERATION_LEASE_S="3")
    user = make_user("ivan", tier="business")
    (pk,) = submit(user, 1)
    wait_for(lambda: provider.stats()["in_flight"] == 1, 20, what="the call to be in flight")
    doomed.kill()
    provider.configure(latency_s_min=0.2, latency_s_max=0.4)
    worker_factory(GENERATION_LEASE_S="3")
    generation = wait_final(pk, 60)
    assert generation.status == "succeeded"
    calls = list(ProviderCall.objects.filter(generation_id=pk).order_by("attempt"))
    assert [c.outcome for c in calls] == ["unknown", "success"]
    assert len(calls) == provider.stats()["requests_total"] == 2
    account = Account.objects.get(user=user)
    assert account.generations_used == 1 and account.spend_usd == generation.cost_usd
    assert_books_balance(user)


def test_cancel_stops_a_queued_job_without_charge(worker, provider, alice):
    """A job waiting for its retry has no call in flight: cancelling it is free (tests/security/test_money.py)."""
    provider.configure(rate_503=1.0)
    client = client_for(alice)
    (job,) = submit(alice, 1)
    wait_for(lambda: Generation.objects.get(pk=job).stage == "retrying", 20, what="the failed call")
    assert client.post(f"/api/v1/generations/{job}/cancel/").json()["status"] == "cancelled"
    final = wait_final(job)
    assert final.status == "cancelled" and final.images == [] and final.cost_usd == 0
    assert_books_balance(alice)
    assert client.get("/api/v1/usage/").json()["spend_usd"] == "0.0000"
