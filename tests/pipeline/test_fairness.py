"""Priorities by tier, per-user in-flight caps, deadlines, and the settings check that guards redelivery."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from statistics import median

import pytest
from django.utils import timezone

from billing.models import Account, Tier
from generation.models import Generation
from generation.queue import messages
from generation.runtime.sweeper import promote_long_waiting
from harness.procs import ROOT
from interiorai.celery import check_redelivery_settings
from tests.support.jobs import submit
from tests.support.waiting import wait_final, wait_for

pytestmark = pytest.mark.stack


def waited(generation: Generation) -> float:
    return (generation.started_at - generation.created_at).total_seconds()


def test_paid_jobs_are_served_before_free_ones_under_contention(worker_factory, provider, make_user):
    provider.configure(latency_s_min=0.4, latency_s_max=0.4)
    free_user, pro_user = make_user("fred", tier="free"), make_user("paula", tier="pro")
    # A backlog forms before any worker is up: free jobs first, then the pro ones.
    free_ids = submit(free_user, 2) + submit(make_user("frida"), 2) + submit(make_user("fiona"), 2)
    pro_ids = submit(pro_user, 4)
    worker_factory(concurrency=2)
    free = [wait_final(pk, 60) for pk in free_ids]
    pro = [wait_final(pk, 60) for pk in pro_ids]
    assert all(g.status == "succeeded" for g in free + pro)
    # The pro jobs arrived last yet waited less than the free jobs queued before them.
    assert median(waited(g) for g in pro) < median(waited(g) for g in free)


def test_one_users_backlog_never_holds_more_than_their_in_flight_cap(worker_factory, provider, make_user):
    worker_factory(concurrency=8)
    provider.configure(latency_s_min=0.5, latency_s_max=0.5)
    hoarder = make_user("hugo", tier="pro")  # pro: 5 in flight at most
    ids = submit(hoarder, 10)
    finals = [wait_final(pk, 60) for pk in ids]
    assert all(g.status == "succeeded" for g in finals)
    cap = Account.objects.get(user=hoarder).tier.max_in_flight
    assert provider.stats()["max_in_flight"] <= cap


def test_a_job_past_its_deadline_fails_and_is_refunded(worker, beat, provider, alice):
    provider.configure(outage=True)
    (pk,) = submit(alice, 1)
    Generation.objects.filter(pk=pk).update(deadline_at=timezone.now() + timedelta(seconds=2))
    generation = wait_final(pk, 30)
    assert generation.status == "failed" and generation.error_code in ("deadline", "provider_503")
    assert "not charged" in generation.error_message
    alice.account.refresh_from_db()
    assert alice.account.reserved_usd == 0 and alice.account.spend_usd == 0


def test_a_lost_message_is_sent_again_by_the_sweeper(worker, beat, provider, alice):
    (pk,) = submit(alice, 1)
    wait_final(pk)
    # A job whose message never reached Redis (the broker was down at commit): only the database knows it.
    original = messages.dispatch
    try:
        messages.dispatch = lambda *a, **k: False  # type: ignore[assignment]
        (lost,) = submit(alice, 1)
    finally:
        messages.dispatch = original
    assert Generation.objects.get(pk=lost).dispatched_at is None
    generation = wait_for(lambda: (g := Generation.objects.get(pk=lost)).is_final and g, 30, 0.2, "the sweeper")
    assert generation.status == "succeeded"


def test_settings_that_would_redeliver_running_jobs_are_refused():
    check_redelivery_settings(3600, 300, 120)
    with pytest.raises(RuntimeError, match="VISIBILITY"):
        check_redelivery_settings(300, 300, 120)


def test_a_worker_refuses_to_start_with_a_short_visibility_timeout(transactional_db):
    env = {**os.environ, "CELERY_VISIBILITY_TIMEOUT_S": "120"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "interiorai", "worker", "-P", "threads", "-Q", "gen.none"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert b"CELERY_VISIBILITY_TIMEOUT_S" in result.stdout + result.stderr


def test_a_long_wait_moves_a_job_up_one_tier_at_a_time(db, make_user, settings):
    (pk,) = submit(make_user("fern", tier="free"), 1)
    by_tier = {t.slug: (t.priority, t.queue) for t in Tier.objects.all()}
    long_ago = timezone.now() - timedelta(seconds=settings.PRIORITY_AGING_S + 1)
    Generation.objects.filter(pk=pk).update(created_at=long_ago)

    assert promote_long_waiting() == 1
    job = Generation.objects.get(pk=pk)
    # One step: level with fresh pro work, not ahead of the business tier's.
    assert (job.priority, job.queue) == by_tier["pro"]
    assert promote_long_waiting() == 0  # not again until it has waited another PRIORITY_AGING_S

    Generation.objects.filter(pk=pk).update(promoted_at=long_ago)
    assert promote_long_waiting() == 1
    assert Generation.objects.get(pk=pk).priority == by_tier["business"][0]
    Generation.objects.filter(pk=pk).update(promoted_at=long_ago)
    assert promote_long_waiting() == 0  # the top tier has nowhere further to go
