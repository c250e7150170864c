"""Per-model rate limits set in the admin reach running workers without a deploy or a restart."""

from __future__ import annotations

import time

import pytest

from core.ratelimit import Limits
from core.redis import redis_client
from generation.models import ProviderLimit
from generation.provider import limits
from generation.provider.client import targets
from tests.support.api import client_for
from tests.support.jobs import recorded_calls, submit
from tests.support.waiting import wait_final


@pytest.fixture(autouse=True)
def fresh_limits():
    limits.forget()
    yield
    limits.forget()


def test_the_admins_row_overrides_the_environment_for_that_model_only(db, settings):
    settings.PROVIDER_RPM, settings.PROVIDER_IPM = 50, 40
    assert limits.limits_for("openai", "gpt-image-1") == Limits(50, 40)
    ProviderLimit.objects.create(provider="openai", model="gpt-image-1", rpm=7, ipm=5)
    limits.forget()
    assert limits.limits_for("openai", "gpt-image-1") == Limits(7, 5)
    assert limits.limits_for("openai", "gpt-image-1-mini") == Limits(50, 40)


def test_the_admin_page_edits_a_limit(db, make_user):
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = client_for(admin)
    client.force_login(admin)
    assert limits.limits_for("openai", "gpt-image-1") != Limits(9, 3)  # now cached in this process
    response = client.post(
        "/admin/generation/providerlimit/add/", {"provider": "openai", "model": "gpt-image-1", "rpm": 9, "ipm": 3}
    )
    assert response.status_code == 302, response.content[:500]
    # Without the admin dropping the cache on save, the value cached above would stand for REFRESH_S more seconds.
    assert limits.limits_for("openai", "gpt-image-1") == Limits(9, 3), "the saving process sees it at once"


@pytest.mark.stack
def test_a_running_worker_keeps_to_a_limit_set_after_it_started(worker_factory, provider, make_user):
    # The worker starts unlimited (PROVIDER_RPM=0 under tests); the provider allows 2 requests per 3 s.
    worker_factory(RATE_LIMIT_WINDOW_S="3", RATE_LIMIT_SAFETY_S="0.3", RATE_LIMIT_MAX_WAIT_S="0.5")
    provider.configure(rpm=2, window_s=3, latency_s_min=0.1, latency_s_max=0.2)
    primary = targets()[0]
    ProviderLimit.objects.create(provider=primary.provider, model=primary.model, rpm=2, ipm=0)
    # The promise is "within REFRESH_S": the worker's dispatcher may have cached "no row" just before the save.
    time.sleep(limits.REFRESH_S + 0.5)

    ids = submit(make_user("lena", tier="business"), 5)
    finals = [wait_final(pk, 60) for pk in ids]

    assert [g.status for g in finals] == ["succeeded"] * 5
    stats = provider.stats()
    assert stats["by_status"].get("429", 0) == 0, "the worker used the admin's limit, not its unlimited default"
    assert stats["requests_total"] == 5 == recorded_calls()


@pytest.mark.stack
def test_a_booking_is_stamped_when_its_request_leaves_even_on_a_cold_worker(worker_factory, provider, make_user):
    # A fresh worker's first call builds the SDK's client and encodes the upload; found by the chaos runs: stamped
    # before all that, the booking's slot reopened a few tenths of a second early and the provider answered 429.
    worker_factory(PROVIDER_RPM="50", PROVIDER_IPM="50", RATE_LIMIT_WINDOW_S="60", RATE_LIMIT_SAFETY_S="0.05")
    (pk,) = submit(make_user("mira", tier="business"), 1)
    assert wait_final(pk, 30).status == "succeeded"

    (arrived,) = [r["received_at"] for r in provider.requests(limit=20) if r["endpoint"] == "/v1/images/edits"]
    ((_, stamp_ms),) = redis_client().zrange(f"rl:{targets()[0].name}:req", 0, -1, withscores=True)
    assert arrived - stamp_ms / 1000 < 0.05, "the booking was stamped well before its request reached the provider"
