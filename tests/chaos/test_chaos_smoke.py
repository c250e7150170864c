"""The chaos harness in its smallest scenario: two worker hosts, one killed mid-call, and every invariant holds.

As root (CI) the hosts live in network namespaces of their own; without root they run as plain processes. Bounded:
16 jobs, a run of about a minute, killed at 150 s whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.cluster import postgres_bin

pytestmark = [pytest.mark.stack, pytest.mark.chaos, pytest.mark.timeout(170)]

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_killed_mid_call_loses_no_job_and_pays_for_no_result_twice() -> None:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL's server is missing (apt-get install postgresql as root); the chaos smoke is skipped")
    var = ROOT / "var" / "test" / "chaos-smoke"  # not under /tmp: the private PostgreSQL runs as `postgres`
    out = var / "latest.json"
    env = {**os.environ, "CHAOS_VAR_DIR": str(var), "CHAOS_NET_ID": "1", "CHAOS_MAX_S": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "chaos.run", "--smoke", "--no-report", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    results = json.loads(out.read_text()) if out.exists() else {}
    assert results.get("scenarios"), done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = results["scenarios"]
    assert run["failures"] == [], run
    assert run["jobs"] == run["accepted"] > 0
    assert run["lost"] == 0 and run["late"] == 0
    assert run["unrecorded_upstream"] == 0
    assert run["wasted_paid_calls"] <= run["exposed_in_flight"]
    assert run["charging_errors"] == 0 and run["reservations_outstanding"] == 0
    assert run["check_ledger"] == "clean"
    assert run["provider_429"] == 0 and run["max_window_requests"] <= run["limit"]
    assert [event["kind"] for event in run["events"]] == ["sigkill"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
