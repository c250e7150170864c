"""Per-token and per-user throttles: 429 with Retry-After in the error envelope; open when Redis is down."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.support.api import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "5/min", "token": "3/min"},
    }


def test_one_token_is_throttled_with_retry_after(low_rates, alice):
    first, second = client_for(alice), client_for(alice)
    assert [first.get("/api/v1/usage/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = first.get("/api/v1/usage/")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["error"]["code"] == "throttled"
    assert second.get("/api/v1/usage/").status_code == 200, "another token of the user has its own budget"


def test_simultaneous_requests_cannot_share_one_count(settings, alice, transactional_db):
    """The check and the booking are one atomic step: 12 requests at once on a 3/min token, exactly 3 pass."""
    # Only the token's throttle is under test. DRF asks every throttle, so with a tight user rate too, the first
    # five to reach the user's count and the first three to reach the token's need not be the same requests.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000/min", "token": "3/min"},
    }
    api = client_for(alice)

    def call(_: int) -> int:
        try:
            return api.get("/api/v1/styles/").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(call, range(12)))
    assert sorted(statuses) == [200] * 3 + [429] * 9


def test_all_of_a_users_tokens_share_the_user_budget(low_rates, alice, bob):
    clients = [client_for(alice) for _ in range(3)]
    statuses = [clients[i % 3].get("/api/v1/styles/").status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    assert client_for(bob).get("/api/v1/styles/").status_code == 200


def test_throttles_let_requests_through_when_redis_is_down(low_rates, alice, settings):
    api = client_for(alice)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: every count fails
    assert [api.get("/api/v1/webhook-endpoints/").status_code for _ in range(6)] == [200] * 6
