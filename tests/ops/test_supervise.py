"""interiorai.supervise: a crashed child is started again, a refused configuration is not, SIGTERM stops all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import roles
from harness.procs import ROOT
from tests.support.waiting import wait_for


def supervise(*command: str, log: Path) -> subprocess.Popen[bytes]:
    # A plain child, not a harness Proc: the tests signal the supervisor alone, and it must pass the signal on.
    out = log.open("wb")
    return subprocess.Popen(roles.supervised(list(command)), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def counting(starts: Path, then: str) -> list[str]:
    """A child that adds an x to `starts` each time it is started (`n` = earlier starts), then runs `then`."""
    script = (
        f"import pathlib, time; p = pathlib.Path({str(starts)!r}); n = len(p.read_text()) if p.exists() else 0; "
        f"p.write_text('x' * (n + 1)); {then}"
    )
    return [sys.executable, "-c", script]


def test_a_crashed_child_is_started_again_and_sigterm_stops_everything(tmp_path: Path):
    starts = tmp_path / "starts"
    # Each run notes that it started, the first two crash, the third keeps running.
    server = supervise(
        *counting(starts, "time.sleep(0.2 if n < 2 else 600); raise SystemExit(1)"), log=tmp_path / "log"
    )
    try:
        wait_for(lambda: starts.exists() and len(starts.read_text()) == 3, 30, what="two restarts")
        time.sleep(1)
        assert server.poll() is None, "the supervisor keeps running"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert len(starts.read_text()) == 3, "no restart after SIGTERM"
    assert server.returncode == 0


def test_a_child_that_refuses_its_configuration_is_not_restarted(tmp_path: Path):
    starts = tmp_path / "starts"
    server = supervise(*counting(starts, "raise SystemExit(78)"), log=tmp_path / "log")
    assert server.wait(timeout=20) == 78
    assert starts.read_text() == "x"
