"""Fixtures: personas, API clients, and the live stack (sandbox provider, Celery worker, daphne) as real processes."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from PIL import Image, ImageDraw
from rest_framework.test import APIClient

from sandbox.testing import free_port, running_sandbox

ROOT = Path(__file__).resolve().parents[1]
assert os.environ.get("TESTING") == "1", "run the tests with `make test` (scripts/test.sh sets the test environment)"
OUR_REDIS_KEYS = ("rl:*", "cb:*", "gen:*", "metrics:*", "idem:*", "cache:*")


def pytest_report_header() -> str | None:
    """scripts/provision.sh lists the system tools it could not install; tests.support.tools skips their tests."""
    missing = os.environ.get("MISSING_TOOLS", "").split()
    return f"missing system tools (their tests are skipped): {' '.join(missing)}" if missing else None


# Images ---------------------------------------------------------------------------------------------------


def room_photo(
    width: int = 800, height: int = 600, fmt: str = "JPEG", seed: int = 0, exif: bytes | None = None
) -> bytes:
    """A small synthetic room: wall, floor, window, sofa."""
    image = Image.new("RGB", (width, height), (210 - seed % 40, 200, 185))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(height * 0.66), width, height], fill=(120, 90, 60))
    draw.rectangle([int(width * 0.6), int(height * 0.15), int(width * 0.85), int(height * 0.5)], fill=(170, 210, 240))
    draw.rectangle([int(width * 0.1), int(height * 0.5), int(width * 0.45), int(height * 0.72)], fill=(80, 80, 95))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {"exif": exif} if exif else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


# Personas and clients -------------------------------------------------------------------------------------


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    def make(username: str, tier: str = "free", password: str = "correct horse battery") -> Any:
        from billing.services import ensure_account, set_tier

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


def client_for(user: Any) -> APIClient:
    from developers.tokens import create_token

    client = APIClient()
    _, key = create_token(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(alice: Any) -> APIClient:
    return client_for(alice)


def upload_room(client: APIClient, photo: bytes | None = None, **fields: Any) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"name": "Living room", "room_type": "living_room", **fields}
    data["photo"] = SimpleUploadedFile("room.jpg", photo if photo is not None else room_photo(), "image/jpeg")
    return client.post("/api/v1/rooms/", data, format="multipart")


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


# The live stack -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The project's OpenAI-compatible sandbox, on a free port, with quick latencies."""
    with running_sandbox(latency_s_min=0.3, latency_s_max=0.8, seed=7) as handle:
        yield handle


@pytest.fixture
def provider(sandbox: Any) -> Iterator[Any]:
    """The sandbox, reset to a healthy quick profile before each test."""
    sandbox.reset()
    sandbox.configure(
        latency_s_min=0.3,
        latency_s_max=0.8,
        latency_dist="uniform",
        rpm=0,
        ipm=0,
        window_s=60,
        rate_429=0,
        rate_500=0,
        rate_503=0,
        rate_timeout=0,
        rate_drop=0,
        outage=False,
        outage_models="",
        render_scale=1,
        retry_after_s=1,
        hang_s=3600,
        seed=7,
    )
    yield sandbox


def stack_env(sandbox: Any, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "OPENAI_BASE_URL": sandbox.api_base,
        "OPENAI_TIMEOUT_S": "5",
        "PROVIDER_RPM": "0",
        "PROVIDER_IPM": "0",
        "BREAKER_MIN_CALLS": "4",
        "BREAKER_OPEN_S": "3",
    }
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{name}"
    env.update(extra)
    return env


class Worker:
    """A real `celery worker` process consuming the generation queues."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 8) -> None:
        self.env, self.log_path, self.concurrency = env, log_path, concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        self.hostname = f"gen-{time.monotonic_ns()}@test"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "interiorai",
                "worker",
                "-E",
                "-P",
                "threads",
                "-c",
                str(self.concurrency),
                "-Q",
                "default,gen.priority,gen.standard",
                "-n",
                self.hostname,
                "-l",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + 90  # a start-up bound for a loaded CI machine, not a timing claim
        while not client.exists(f"gen:worker:{self.hostname}"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise RuntimeError(f"worker did not start; see {self.log_path}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acks, exactly like a machine dying."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        redis.Redis.from_url(self.env["REDIS_URL"]).delete(f"gen:worker:{self.hostname}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process:
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.env["REDIS_URL"]).delete(f"gen:worker:{self.hostname}")


@pytest.fixture
def worker_factory(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers (with extra env) for one test; they are stopped when it ends."""
    started: list[Worker] = []

    def start(concurrency: int = 8, **extra: str) -> Worker:
        worker = Worker(stack_env(provider, **extra), tmp_path / f"worker{len(started)}.log", concurrency).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory: Callable[..., Worker]) -> Worker:
    return worker_factory()


class Beat:
    """The sweeper, run the way beat runs it, in its own process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        log = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "interiorai",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(log_path.with_suffix(".db")),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture
def beat(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Beat]:
    process = Beat(stack_env(provider), tmp_path / "beat.log")
    yield process
    process.stop()


class Web:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "interiorai.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        import requests

        deadline = time.monotonic() + 90  # a start-up bound for a loaded CI machine, not a timing claim
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise RuntimeError(f"daphne did not start; see {log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture
def web(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Web]:
    """daphne serving the real ASGI app (HTTP and WebSockets) on a free port."""
    server = Web(stack_env(provider), tmp_path / "web.log")
    yield server
    server.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_final(generation_id: Any, timeout: float = 60) -> Any:
    from generation.models import Generation

    def final() -> Any:
        generation = Generation.objects.get(pk=generation_id)
        return generation if generation.is_final else None

    return wait_for(final, timeout, 0.1, f"generation {generation_id} to finish")
