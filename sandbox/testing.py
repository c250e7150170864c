"""Helpers to run the sandbox from tests: in a background thread or as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from .config import SandboxConfig
from .server import BACKLOG, create_app, make_runner

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 15.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    """Send a JSON request to a control endpoint and return the decoded answer."""
    data = json.dumps(body).encode() if body is not None else None
    if not url.startswith("http://"):
        raise ValueError(f"Only http:// URLs are expected here, got {url!r}")
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - checked above.
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local http only.
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{method} {url} answered {exc.code}: {exc.read().decode()}") from None


class SandboxHandle:
    """A running sandbox: its URLs and thin wrappers around the control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api_base = url + "/v1"

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change config keys at run time and return the whole new config."""
        config: dict[str, Any] = _call(self.url + "/_sandbox/config", "POST", changes)
        return config

    def config(self) -> dict[str, Any]:
        """Return the current config."""
        config: dict[str, Any] = _call(self.url + "/_sandbox/config")
        return config

    def stats(self) -> dict[str, Any]:
        """Return the request counters."""
        stats: dict[str, Any] = _call(self.url + "/_sandbox/stats")
        return stats

    def requests(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the last `limit` recorded /v1 requests, oldest first."""
        records: list[dict[str, Any]] = _call(f"{self.url}/_sandbox/requests?limit={limit}")
        return records

    def reset(self) -> None:
        """Zero stats, clear recorded requests and rate-limit windows, and restart the RNG."""
        _call(self.url + "/_sandbox/reset", "POST", {})

    def restore(self, config: SandboxConfig) -> dict[str, Any]:
        """Reset, then set every config key to `config`'s value, so nothing an earlier user changed is left."""
        self.reset()
        return self.configure(**config.as_dict())


class _ServerThread(threading.Thread):
    """Serve the sandbox on its own event loop until asked to stop."""

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(name="sandbox-server", daemon=True)
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.port = 0
        self.error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # Reported to the thread waiting in running_sandbox().
            self.error = exc
            self.started.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        runner = make_runner(create_app(self.config))
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(runner, sock, backlog=BACKLOG).start()
        self.started.set()
        try:
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        """Ask the loop to shut the server down, and wait for it."""
        if self._stop_event is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=10)


@contextmanager
def running_sandbox(**config: Any) -> Iterator[SandboxHandle]:
    """Run a sandbox on a free 127.0.0.1 port in a background thread for the `with` block.

    Keyword arguments are config keys; latency defaults to zero here so tests stay fast.
    """
    settings = SandboxConfig().updated({"latency_s_min": 0.0, "latency_s_max": 0.0, **config})
    thread = _ServerThread(settings)
    thread.start()
    if not thread.started.wait(START_TIMEOUT_S) or thread.error is not None:
        thread.stop()
        raise RuntimeError(f"sandbox did not start: {thread.error!r}")
    try:
        yield SandboxHandle(f"http://127.0.0.1:{thread.port}")
    finally:
        thread.stop()


def start_sandbox_process(port: int, **config: Any) -> subprocess.Popen[bytes]:
    """Start `python -m sandbox` on `port` with config flags; return once /_sandbox/healthz answers.

    The caller owns the process: `proc.terminate(); proc.wait()`.
    """
    command = [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)]
    for key, value in config.items():
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        command += [f"--{key.replace('_', '-')}", text]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    # stderr is inherited: a pipe nobody reads would fill up and stall the server's logging.
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode}; its stderr says why")
        try:
            _call(f"http://127.0.0.1:{port}/_sandbox/healthz")
            return process
        except (OSError, ValueError):
            time.sleep(0.05)
    process.terminate()
    process.wait()
    raise RuntimeError(f"sandbox did not answer on port {port} within {START_TIMEOUT_S}s")
