"""The live stack's processes for one test (a Celery worker, beat, daphne, a Redis of its own), started by harness."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from harness import roles
from harness.procs import Proc, free_port, http_ok, wait_until

STARTUP_S = 90  # a start-up bound for a loaded CI machine, not a timing claim


def stack_env(sandbox: Any, **extra: str) -> dict[str, str]:
    """The environment of a process that joins this test: its database, media folder and the sandbox."""
    env = {
        **os.environ,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "OPENAI_BASE_URL": sandbox.api_base,
        "REPLICATE_BASE_URL": sandbox.url,
        "REPLICATE_POLL_S": "0.2",
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


def started(proc: Proc, ready: Callable[[], bool], what: str) -> Proc:
    """Wait for `ready()`; a process that does not get there is killed, and the error names its log."""
    try:
        wait_until(ready, STARTUP_S, what, proc)
    except RuntimeError:
        proc.kill()
        raise
    return proc


class Worker:
    """A real `celery worker` process consuming the generation queues (or, given `queues`, those)."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 8, queues: str = roles.QUEUES) -> None:
        self.env, self.log_path, self.concurrency, self.queues = env, log_path, concurrency, queues
        self.proc: Proc | None = None

    @property
    def key(self) -> str:
        """The heartbeat the worker keeps in Redis while it runs: its presence means it has started."""
        return f"gen:worker:{self.hostname}"

    def start(self) -> Worker:
        self.hostname = f"gen-{time.monotonic_ns()}@test"
        argv = roles.worker(self.hostname, self.concurrency, queues=self.queues)
        proc = Proc("worker", argv, self.env, self.log_path).start()
        self.proc = started(proc, self.ready, "the worker to start")
        return self

    def ready(self) -> bool:
        if "gen." in self.queues:
            return bool(redis.Redis.from_url(self.env["REDIS_URL"]).exists(self.key))
        # Only generation workers advertise their slots; any other says so in its log.
        return self.log_path.exists() and f"{self.hostname} ready." in self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acks, exactly like a machine dying."""
        assert self.proc is not None
        self.proc.kill()
        redis.Redis.from_url(self.env["REDIS_URL"]).delete(self.key)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.stop(timeout=15)
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(self.env["REDIS_URL"]).delete(self.key)


class Beat:
    """The sweeper, run the way beat runs it, in its own process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.proc = Proc("beat", roles.beat(log_path.with_suffix(".db")), env, log_path).start()

    def stop(self) -> None:
        self.proc.stop(timeout=15)


class Web:
    """daphne serving the real ASGI app on a free port, started once /healthz answers."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        proc = Proc("daphne", roles.web(self.port), env, log_path).start()
        self.proc = started(proc, lambda: http_ok(self.url + "/healthz"), "daphne to answer /healthz")

    def stop(self) -> None:
        self.proc.stop(timeout=15)


class PrivateRedis:
    """A throwaway redis-server a test may stop and start (the suite's shared one must stay up)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: Proc | None = None

    def start(self) -> None:
        argv = roles.redis_server(self.port, self.workdir)
        self.proc = Proc("redis", argv, dict(os.environ), self.workdir / "redis.log").start()
        wait_until(self.answers, 10, "redis to start", self.proc)

    def stop(self) -> None:
        """SIGKILL: every key it held is gone, as when the machine dies."""
        if self.proc is not None:
            self.proc.kill()

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False
