"""The live stack's processes for one test: a Celery worker, beat, daphne, and a Redis of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import requests
from django.conf import settings
from django.db import connection

from sandbox.testing import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def stack_env(sandbox: Any, **extra: str) -> dict[str, str]:
    """The environment of a process that joins this test: its database, media folder and the sandbox."""
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


class PrivateRedis:
    """A throwaway redis-server a test may stop and start (the suite's shared one must stay up)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, 0.05, "redis to start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False
