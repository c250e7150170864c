"""`python -m interiorai.serve`: several daphne processes on one socket, a dead one replaced, all stopped together."""

from __future__ import annotations

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from harness import roles
from harness.procs import ROOT, free_port
from tests.support.stack import stack_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.stack


def daphnes(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The server's live daphne children (a killed one is a zombie until the server reaps it)."""
    alive = []
    for child in psutil.Process(server.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "daphne" in " ".join(child.cmdline()):
                alive.append(child)
        except psutil.Error:
            continue
    return alive


def test_processes_share_the_port_and_a_killed_one_is_replaced(transactional_db, sandbox, tmp_path: Path):
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    # A plain child, not a harness Proc: SIGTERM goes to the server alone, which must stop its daphnes itself.
    server = subprocess.Popen(
        roles.web(port, processes=2), cwd=ROOT, env=stack_env(sandbox), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_for(lambda: len(daphnes(server)) == 2, 30, what="two daphne processes")

        def healthy(_: int) -> int:
            try:
                return httpx.get(url, timeout=5).status_code
            except httpx.HTTPError:
                return 0

        wait_for(lambda: healthy(0) == 200, 60, what="the server to answer")
        # Every connection is accepted by one of the two; both keep serving while many arrive at once.
        with ThreadPoolExecutor(16) as pool:
            assert list(pool.map(healthy, range(64))) == [200] * 64
        busy = [p for p in daphnes(server) if p.cpu_times().user > 0.5]
        assert len(busy) == 2, "both processes started Django (each imports the project on its own)"

        victim = daphnes(server)[0]
        victim.kill()
        wait_for(lambda: len(daphnes(server)) == 2 and victim.pid not in [p.pid for p in daphnes(server)], 30)
        wait_for(lambda: healthy(0) == 200, 60, what="the replacement to answer")
    finally:
        children = daphnes(server)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        log.close()
    assert server.returncode == 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in children), "no daphne left behind"
