"""Processes started by command line: each in its own process group, all stopped on exit whatever happens."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
_started: list[Proc] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (never one of the shared defaults)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in (5555, 6379, 8000, 8765):
            return port


class Proc:
    """One command run in a new session, so that it and every child it forks stop together.

    It takes the argv and the environment as given: what runs, and where (a wrapper such as a supervisor is part
    of the argv), is the caller's to say.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self.ended = False

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.ended = False
        _started.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, exactly like a machine dying."""
        if self.popen is None or self.ended:
            return
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        self.end()

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM the group, wait up to `timeout` for its leader, then SIGKILL whatever of the group is left."""
        if self.popen is None or self.ended:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Children (gunicorn workers, celery threads' helpers) may outlive the leader: end the group.
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self.end()

    def end(self) -> None:
        # Never signal this group again: once it is empty its number may be handed to a new process group.
        self.ended = True
        if self in _started:
            _started.remove(self)

    def tree(self) -> list[psutil.Process]:
        """The process and its descendants, for memory sampling."""
        if not self.alive():
            return []
        try:
            leader = psutil.Process(self.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.Error:
            return []


def stop_all() -> None:
    """Stop everything still running that this process started, newest first."""
    for proc in reversed(list(_started)):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


atexit.register(stop_all)


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Stop every started process when this one is told to stop (atexit alone misses SIGTERM and SIGHUP)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    """Poll until `predicate` holds; give up at `timeout`, or at once if `proc` (the one awaited) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: {proc.name} exited; see {proc.log_path}")
        time.sleep(0.1)
    raise RuntimeError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f"; see {proc.log_path}" if proc else "")
    )


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether a GET of a loopback URL answers 2xx (any failure to answer is a no)."""
    if not url.startswith("http://127.0.0.1"):
        raise ValueError(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return bool(200 <= response.status < 300)
    except Exception:
        return False
