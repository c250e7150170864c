"""The benchmark harness in its smallest mode: it runs end to end, writes the documented JSON, and loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
RUN_FIELDS = {
    "system",
    "scenario",
    "users",
    "jobs",
    "accept_p50_ms",
    "accept_p95_ms",
    "accept_p99_ms",
    "succeeded",
    "failed",
    "lost",
    "duplicated",
    "provider_calls",
    "provider_429",
    "wasted_calls",
    "throughput_ratio",
    "makespan_ratio",
    "ws_p50_ms",
    "ws_p95_ms",
    "peak_rss_mb",
}


def test_the_smallest_benchmark_writes_its_results_and_loses_no_job(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    env = {
        **os.environ,
        "BENCH_VAR_DIR": str(tmp_path / "var"),
        "BENCH_DB_NAME": f"bench_smoke_{os.getpid()}",
        "BENCH_DROP_DB": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--mode", "smoke", "--no-report", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {"machine", "commit", "runs"} <= results.keys()
    assert results["runs"], "no run recorded"
    for run in results["runs"]:
        assert run.keys() >= RUN_FIELDS, RUN_FIELDS - run.keys()
        assert run["system"] == "interiorai"
        assert run["jobs"] > 0 and run["succeeded"] > 0
        assert run["lost"] == 0 and run["duplicated"] == 0
        assert 0 < run["throughput_ratio"] <= 1.05, "results delivered per second, over the provider's limit"
