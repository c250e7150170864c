"""The benchmark harness in its smallest mode: it runs end to end, writes the documented JSON, and loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    "posts_peak_per_s",
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
    "ws_basis",
    "accepted_delivered",
    "estimate_accuracy",
    "served_by_tier",
    "goodput",
    "slow_lane",
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
        timeout=180,  # under a minute on an idle machine; a shared one stretches it
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
        assert_the_new_figures_are_well_formed(run)
    assert_one_accept_was_counted(results["roundtrips"])


def assert_the_new_figures_are_well_formed(run: dict[str, Any]) -> None:
    assert run["ws_basis"] in ("commit", "finished_at")
    promised = run["accepted_delivered"]
    assert promised["accepted"] > 0 and isinstance(promised["deadline_failed"], int)
    assert isinstance(promised["deadline_failed_provider_down"], int)
    estimate = run["estimate_accuracy"]
    assert isinstance(estimate["jobs"], int)
    for field in ("within_50pct_share", "later_than_predicted_share", "started_after_predicted_share"):
        assert estimate[field] is None or 0 <= estimate[field] <= 1, field
    for tier, served in run["served_by_tier"].items():
        assert served.keys() >= {"offered", "refused", "accepted", "delivered_in_deadline", "share_in_deadline"}, tier
        assert served["delivered_in_deadline"] <= served["accepted"] <= served["offered"], tier
    goodput = run["goodput"]
    shares = [goodput["delivered"], *(v for v in goodput["lost"].values() if v is not None)]
    assert abs(sum(shares) - 1) < 0.02, "the goodput's shares split the ideal"
    assert goodput["lost"]["booking_waste"] is None, "not measured, and said so"


def assert_one_accept_was_counted(counts: dict[str, Any]) -> None:
    assert "error" not in counts, counts.get("error")
    assert counts["sql_queries"] > 0 and counts["redis_round_trips"] > 0
    assert counts["celery_publishes"] >= 1
    assert all(sample["status"] == 202 for sample in counts["samples"])
