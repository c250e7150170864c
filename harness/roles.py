"""The command line of each role: argv only, so a caller may wrap it (a supervisor, a network namespace) and run it."""

from __future__ import annotations

import sys
from pathlib import Path

PY = sys.executable
QUEUES = "default,gen.priority,gen.standard"
WEBHOOK_QUEUES = "webhooks"  # deliveries have workers of their own, as `make run` and compose run them


def supervised(argv: list[str]) -> list[str]:
    """Run `argv` under interiorai.supervise, which starts it again when it dies on its own (as `make run` does)."""
    return [PY, "-m", "interiorai.supervise", "--", *argv]


def worker(name: str, concurrency: int, log_level: str = "INFO", queues: str = QUEUES) -> list[str]:
    """A Celery worker on `queues` (the generation ones by default), in threads, sending task events; `name` is its
    node name (-n)."""
    return [
        PY,
        "-m",
        "celery",
        "-A",
        "interiorai",
        "worker",
        "-E",
        "-P",
        "threads",
        "-c",
        str(concurrency),
        "-Q",
        queues,
        "-n",
        name,
        "-l",
        log_level,
        "--without-mingle",
        "--without-gossip",
    ]


def beat(schedule: Path, log_level: str = "INFO") -> list[str]:
    """Celery beat (the sweeper's clock), keeping its schedule in the file `schedule`."""
    return [PY, "-m", "celery", "-A", "interiorai", "beat", "-l", log_level, "-s", str(schedule)]


def web(port: int, processes: int | None = None, host: str = "127.0.0.1") -> list[str]:
    """One daphne serving the ASGI app; with `processes`, interiorai.serve runs that many on one socket."""
    if processes is None:
        return [PY, "-m", "daphne", "-b", host, "-p", str(port), "interiorai.asgi:application"]
    return [PY, "-m", "interiorai.serve", "--host", host, "--port", str(port), "--processes", str(processes)]


def sandbox(port: int, host: str = "127.0.0.1") -> list[str]:
    """The OpenAI-compatible sandbox provider."""
    return [PY, "-m", "sandbox", "--host", host, "--port", str(port)]


def redis_server(port: int, directory: Path, executable: str = "redis-server", host: str = "127.0.0.1") -> list[str]:
    """A redis-server that keeps nothing on disk: stopping it loses every key, as a crash would."""
    return [
        executable,
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
