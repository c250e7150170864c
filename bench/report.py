"""Regenerate docs/BENCHMARKS.md and the plot from docs/benchmarks/latest.json: `python -m bench.report [JSON]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
PLOT = ROOT / "docs" / "benchmarks" / "throughput.png"
METHOD = ROOT / "bench" / "METHOD.md"
SYSTEMS = ("interiorai", "interiorai-failover", "naive-daphne", "naive-gunicorn", "litellm")


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    else:
        text = str(value)
    return text + unit


def variant(run: dict[str, Any]) -> str:
    return str(run.get("system_variant") or run["system"])


def dup(run: dict[str, Any]) -> str:
    """Jobs run twice, and beside them those rendered again after the provider dropped its answer."""
    again = run.get("rerendered_after_drop") or 0
    return f"{run['duplicated']} (+{again})" if again else str(run["duplicated"])


def runs_of(results: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    order = {name: i for i, name in enumerate(SYSTEMS)}
    chosen = [r for r in results["runs"] if r["scenario"] == scenario]
    return sorted(chosen, key=lambda r: (r["users"], order.get(variant(r), 9)))


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def errors(run: dict[str, Any]) -> str:
    causes = run.get("errors_by_cause") or {}
    return ", ".join(f"{k} {v}" for k, v in list(causes.items())[:4]) or "none"


def steady_table(results: dict[str, Any], scenario: str) -> str:
    rows = []
    for r in runs_of(results, scenario):
        rows.append(
            [
                variant(r),
                str(r["users"]),
                str(r["jobs"]),
                f"{fmt(r['accept_p50_ms'])} / {fmt(r['accept_p95_ms'])} / {fmt(r['accept_p99_ms'])}",
                str(r["succeeded"]),
                str(r["failed"]),
                str(r["lost"]),
                dup(r),
                fmt(r["throughput_ratio"]),
                fmt(r["makespan_ratio"]),
                f"{r['provider_calls']} / {r['provider_429']}",
                f"{r['wasted_calls']} (${r['wasted_cost_usd']:.2f})",
                f"{fmt(r['ws_p50_ms'])} / {fmt(r['ws_p95_ms'])}",
                f"{fmt(r.get('wait_paid_p50_s'))} / {fmt(r.get('wait_free_p50_s'))}",
                fmt(r["peak_rss_mb"]),
                fmt(sum((r.get("cpu_s") or {}).values()) if r.get("cpu_s") else None),
                fmt((r.get("machine_load_1m") or {}).get("mean")),
                errors(r),
            ]
        )
    return table(
        [
            "system",
            "users",
            "jobs",
            "accept P50/P95/P99 ms",
            "ok",
            "failed",
            "lost",
            "dup",
            "thr ratio",
            "makespan ratio",
            "calls / 429",
            "wasted (cost)",
            "WS P50/P95 ms",
            "wait paid/free P50 s",
            "peak RSS MB",
            "CPU s",
            "machine load",
            "user-visible errors",
        ],
        rows,
    )


def burst_table(results: dict[str, Any]) -> str:
    rows = []
    for r in runs_of(results, "burst"):
        rows.append(
            [
                variant(r),
                str(r["users"]),
                f"{fmt(r['accept_p50_ms'])} / {fmt(r['accept_p95_ms'])} / {fmt(r['accept_p99_ms'])}",
                f"{fmt(r.get('healthz_p50_ms'))} / {fmt(r.get('healthz_p95_ms'))} / {fmt(r.get('healthz_p99_ms'))}",
                " / ".join(fmt(r.get(f"accept_vs_floor_p{q}")) for q in (50, 95, 99)),
                str(r["accepted"]),
                str(r["succeeded"]),
                str(r["lost"]),
                dup(r),
                f"{r['provider_calls']} / {r['provider_429']}",
                f"{r['wasted_calls']} (${r['wasted_cost_usd']:.2f})",
                f"{fmt(r.get('wait_paid_p50_s'))} / {fmt(r.get('wait_free_p50_s'))}",
                errors(r),
            ]
        )
    return table(
        [
            "system",
            "burst",
            "POST P50/P95/P99 ms",
            "/healthz P50/P95/P99 ms",
            "x floor P50/P95/P99",
            "accepted",
            "ok",
            "lost",
            "dup",
            "calls / 429",
            "wasted (cost)",
            "wait paid/free P50 s",
            "user-visible errors",
        ],
        rows,
    )


def ratios(results: dict[str, Any]) -> str:
    """InteriorAI against each baseline, scenario by scenario: succeeded, wasted calls, accept P99."""
    ours = {(r["scenario"], r["users"]): r for r in results["runs"] if variant(r) == "interiorai"}
    rows = []
    for r in results["runs"]:
        if variant(r) == "interiorai":
            continue
        mine = ours.get((r["scenario"], r["users"]))
        if not mine:
            continue

        def ratio(a: Any, b: Any) -> str:
            return f"{a / b:.2f}x" if a is not None and b else ("∞" if a else "-")

        rows.append(
            [
                f"{r['scenario']}-{r['users']}",
                variant(r),
                ratio(mine["succeeded"], r["succeeded"]),
                ratio(mine.get("throughput_ratio"), r.get("throughput_ratio")),
                ratio(r["accept_p99_ms"], mine["accept_p99_ms"]),
                f"{mine['wasted_calls']} vs {r['wasted_calls']}",
                f"{mine['lost']} vs {r['lost']}",
            ]
        )
    return table(
        [
            "scenario",
            "baseline",
            "results delivered (ours ÷ theirs)",
            "throughput (ours ÷ theirs)",
            "accept P99 (theirs ÷ ours)",
            "wasted calls (ours vs theirs)",
            "lost (ours vs theirs)",
        ],
        rows,
    )


def targets(results: dict[str, Any]) -> str:
    ours = [r for r in results["runs"] if variant(r) == "interiorai"]
    if not ours:
        return "No InteriorAI run in this file."
    biggest = max((r for r in ours if r["scenario"] == "steady"), key=lambda r: r["users"], default=None)
    bursts = [r for r in ours if r["scenario"] == "burst"]
    saturated = [r for r in ours if (r.get("offered_ratio") or 0) >= 1.2 and r["scenario"] in ("steady", "burst")]
    lines = []

    def line(ok: bool | None, text: str) -> None:
        mark = "met" if ok else "not met" if ok is not None else "n/a"
        lines.append(f"- **{mark}** — {text}")

    if biggest:
        p99 = biggest["accept_p99_ms"]
        line(p99 is not None and p99 < 50, f"accept P99 < 50 ms at {biggest['users']} users: {fmt(p99)} ms")
    for b in bursts:
        x = b.get("accept_vs_floor_p99")
        line(x is not None and x <= 2, f"burst of {b['users']}: POST P99 within 2x the /healthz floor: {fmt(x)}x")
    bad = [f"{r['scenario']}-{r['users']}" for r in ours if r["lost"] or r["duplicated"]]
    line(
        not bad,
        "zero lost and zero duplicated in every scenario, chaos included"
        + (f" (not in {', '.join(bad)})" if bad else ""),
    )
    for r in saturated:
        line(
            (r["throughput_ratio"] or 0) >= 0.95 and r["provider_429_share"] < 0.01,
            f"{r['scenario']}-{r['users']}: throughput {fmt(r['throughput_ratio'])} of the limit (>= 0.95), "
            f"429s {r['provider_429_share'] * 100:.1f}% of calls (< 1%)",
        )
    ws = [r["ws_p95_ms"] for r in ours if r.get("ws_p95_ms") is not None]
    if ws:
        line(max(ws) < 100, f"WebSocket delivery P95 < 100 ms: worst scenario {fmt(max(ws))} ms")
    for r in saturated:
        x = r.get("wait_paid_vs_free")
        served = r.get("served_by_tier") or {}
        share = ", ".join(
            f"{tier} {v['ok']}/{v['submitted']} delivered, {v['refused']} refused at the door"
            for tier, v in sorted(served.items())
        )
        note = f" (waits of delivered jobs; {share})" if share else ""
        line(x is not None and x <= 0.5, f"{r['scenario']}-{r['users']}: paid median wait <= 1/2 free: {fmt(x)}x{note}")
    return "\n".join(lines)


def render(path: Path) -> None:
    results = json.loads(path.read_text())
    plot(results)
    method = METHOD.read_text() if METHOD.exists() else ""
    prof = results.get("profile", {})
    m = results.get("machine", {})
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench.report` from docs/benchmarks/latest.json;"
        " edit bench/METHOD.md or bench/report.py instead. -->",
        "",
        f"Run: mode **{results.get('mode')}**, commit `{results.get('commit')}`, {results.get('started_at')}, "
        f"{results.get('duration_s', '?')} s, database {results.get('database')}. Machine: {m.get('cpus')} CPUs "
        f"({m.get('cpu_model')}), {m.get('memory_gb')} GB, Python {m.get('python')}, load average at start "
        f"{m.get('load_average_at_start')} (other work was running on this machine).",
        "",
        f"Provider (sandbox), time-scaled {prof.get('time_scale')}: latency {prof.get('latency_s')} s "
        f"{prof.get('latency_dist')}, limit {prof.get('provider_rpm')} requests and {prof.get('provider_ipm')} "
        f'images per {prof.get("provider_window_s")} s "minute" ({prof.get("provider_limit_per_s")} jobs/s), '
        f"faults {prof.get('faults')}; synchronous deadline {prof.get('deadline_s')} s.",
        "",
        "![Throughput and jobs in the system over time](benchmarks/throughput.png)",
        "",
        "## Targets (reported, not asserted)",
        "",
        targets(results),
        "",
        "## Steady load",
        "",
        steady_table(results, "steady"),
        "",
        "## Bursts, beside the server's floor",
        "",
        burst_table(results),
        "",
        "## Chaos",
        "",
        "A worker SIGKILLed mid-run (then replaced, as a supervisor would), Redis killed and restarted empty,"
        " a provider outage, and an outage of OpenAI alone (`chaos_primary_outage`), for InteriorAI on OpenAI alone"
        " and with Replicate after it in its chain (`interiorai-failover`).",
        "",
        *[
            f"### {name}\n\n{steady_table(results, name)}\n"
            for name in ("chaos_worker_kill", "chaos_redis_restart", "chaos_provider_outage", "chaos_primary_outage")
            if runs_of(results, name)
        ],
        "## InteriorAI against the baselines",
        "",
        ratios(results),
        "",
    ]
    if results.get("skipped"):
        parts += ["Skipped: " + "; ".join(json.dumps(s) for s in results["skipped"]), ""]
    parts += [method]
    DOC.write_text("\n".join(parts).rstrip() + "\n")


def plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steady = [r for r in results["runs"] if r["scenario"] == "steady"]
    if not steady:
        return
    users = max(r["users"] for r in steady)
    chosen = [r for r in steady if r["users"] == users]
    chosen.sort(key=lambda r: SYSTEMS.index(variant(r)) if variant(r) in SYSTEMS else 9)
    limit = results.get("profile", {}).get("provider_limit_per_s")
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.4 * len(chosen)), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], chosen, strict=True):
        line = run.get("timeline") or {}
        t, done, depth = line.get("t", []), line.get("done_per_s", []), line.get("in_system", [])
        smooth = [sum(done[max(0, i - 2) : i + 1]) / len(done[max(0, i - 2) : i + 1]) for i in range(len(done))]
        ax.plot(t, smooth, color="tab:green", label="results delivered / s (3 s mean)")
        ok = line.get("provider_ok_per_s") or []
        if ok:
            ok_smooth = [sum(ok[max(0, i - 2) : i + 1]) / len(ok[max(0, i - 2) : i + 1]) for i in range(len(ok))]
            ax.plot(
                t[: len(ok_smooth)], ok_smooth, color="tab:orange", linewidth=1, label="provider 200s / s (3 s mean)"
            )
        if limit:
            ax.axhline(limit, color="tab:green", linestyle=":", label="provider limit")
        ax.set_ylabel("jobs/s")
        ax.set_title(f"{variant(run)} — {users} users", fontsize=10, loc="left")
        twin = ax.twinx()
        twin.plot(t, depth, color="tab:blue", alpha=0.6, label="jobs in the system")
        twin.set_ylabel("in system")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds since the first submission (time-scaled 1/30)")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    render(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "benchmarks" / "latest.json")
