"""Webhook fixtures: receivers as real HTTP servers on 127.0.0.1, and daphne and a worker allowed to reach them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from harness import roles
from tests.support.stack import Web, stack_env
from tests.support.webhooks import Receiver, start_receiver


@pytest.fixture(autouse=True)
def fresh_throttles() -> None:
    """Forget request counts from earlier tests (the login throttle counts per IP, and tests share one)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match="*throttle_*", count=500):
        client.delete(key)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 that WEBHOOK_ALLOWLIST lets webhooks reach."""
    receiver = start_receiver(Receiver)
    settings.WEBHOOK_ALLOWLIST = [receiver.hostport]
    yield receiver
    receiver.close()


@pytest.fixture
def web_for_hooks(transactional_db: None, provider: Any, tmp_path: Path, receiver: Receiver) -> Iterator[Web]:
    """daphne, told that webhooks may reach the receiver."""
    server = Web(stack_env(provider, WEBHOOK_ALLOWLIST=receiver.hostport), tmp_path / "web.log")
    yield server
    server.stop()


@pytest.fixture
def hook_worker(worker_factory: Any, receiver: Any) -> Any:
    """A generation worker, and the webhook worker that sends what it finishes (deliveries have their own queue)."""
    env = {"WEBHOOK_ALLOWLIST": receiver.hostport, "WEBHOOK_RETRY_SCHEDULE_S": "0.5,1"}
    worker_factory(queues=roles.WEBHOOK_QUEUES, **env)
    return worker_factory(**env)


@pytest.fixture
def trap() -> Iterator[Receiver]:
    """An internal service on 127.0.0.1 (not allowlisted): an attacker's target that must never be contacted."""
    receiver = start_receiver(Receiver)
    yield receiver
    receiver.close()
