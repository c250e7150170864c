"""Fixtures: personas, API clients, and the live stack (sandbox provider, Celery worker, daphne) as real processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from billing.services import ensure_account, set_tier
from harness import roles
from sandbox.config import SandboxConfig
from sandbox.testing import running_sandbox
from tests.support.api import client_for
from tests.support.stack import Beat, PrivateRedis, Web, Worker, stack_env

assert os.environ.get("TESTING") == "1", "run the tests with `make test` (scripts/test.sh sets the test environment)"
# The processes the tests start may run with TESTING=1 because they descend from this one (core.env).
os.environ["TEST_RUNNER_PID"] = str(os.getpid())
# What every stack test starts from: quick latencies, no faults, no limits, every family up.
HEALTHY_PROVIDER = SandboxConfig(latency_s_min=0.3, latency_s_max=0.8, retry_after_s=1, seed=7)
OUR_REDIS_KEYS = ("rl:*", "cb:*", "gen:*", "metrics:*", "idem:*", "cache:*")


def pytest_report_header() -> str | None:
    """scripts/provision.sh lists the system tools it could not install; tests.support.tools skips their tests."""
    missing = os.environ.get("MISSING_TOOLS", "").split()
    return f"missing system tools (their tests are skipped): {' '.join(missing)}" if missing else None


# Personas and clients -------------------------------------------------------------------------------------


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    def make(username: str, tier: str = "free", password: str = "correct horse battery") -> Any:
        user = django_user_model.objects.create_user(
            username=username, password=password, email=f"{username}@example.com"
        )
        ensure_account(user)
        if tier != "free":
            set_tier(user, tier)
        return user

    return make


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def api(alice: Any) -> APIClient:
    return client_for(alice)


# Redis ----------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[None]:
    """Forget limiter windows, breaker state and bookkeeping between tests (but not Celery's own keys)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in OUR_REDIS_KEYS:
        for key in client.scan_iter(match=pattern, count=500):
            if not key.startswith(b"gen:worker:"):
                client.delete(key)
    for queue in ("gen.priority", "gen.standard", "default"):
        client.delete(queue)
    yield


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> None:
    """Each test stores files in its own folder (the processes it starts are told the same folder)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, which it may stop and start again."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


# The live stack -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The project's OpenAI-compatible sandbox, on a free port, with quick latencies."""
    with running_sandbox(latency_s_min=0.3, latency_s_max=0.8, seed=7) as handle:
        yield handle


@pytest.fixture
def provider(sandbox: Any) -> Iterator[Any]:
    """The sandbox, reset to a healthy quick profile before each test: every config key, so none leaks between tests."""
    sandbox.restore(HEALTHY_PROVIDER)
    yield sandbox


@pytest.fixture
def worker_factory(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers (with extra env) for one test; they are stopped when it ends."""
    started: list[Worker] = []

    def start(concurrency: int = 8, queues: str = roles.QUEUES, **extra: str) -> Worker:
        log_path = tmp_path / f"worker{len(started)}.log"
        worker = Worker(stack_env(provider, **extra), log_path, concurrency, queues).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory: Callable[..., Worker]) -> Worker:
    return worker_factory()


@pytest.fixture
def beat(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Beat]:
    process = Beat(stack_env(provider), tmp_path / "beat.log")
    yield process
    process.stop()


@pytest.fixture
def web(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Web]:
    """daphne serving the real ASGI app (HTTP and WebSockets) on a free port."""
    server = Web(stack_env(provider), tmp_path / "web.log")
    yield server
    server.stop()
