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
                f"{fmt(r.get('ws_p50_ms'))} / {fmt(r.get('ws_p95_ms'))}",
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
            "WS P50/P95 ms",
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


def share(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def key(run: dict[str, Any]) -> str:
    return f"{run['scenario']}-{run['users']}"


class Target:
    """One row of the targets table: what was asked, what this run measured, whether it was met, and if not, the
    closest any scenario came (measured against the target) and why, in numbers."""

    def __init__(self, name: str, measured: str, met: bool | None, closest: str = "", why: str = "") -> None:
        self.name, self.measured, self.met, self.closest, self.why = name, measured, met, closest, why

    def row(self) -> list[str]:
        mark = "n/a" if self.met is None else "met" if self.met else "**not met**"
        return [self.name, self.measured, mark, "" if self.met else self.closest, "" if self.met else self.why]


def cpus(results: dict[str, Any]) -> str:
    return str((results.get("machine") or {}).get("cpus") or "?")


def accept_cost(results: dict[str, Any]) -> str:
    rt = results.get("roundtrips") or {}
    if not rt or "error" in rt:
        return ""
    sql, trips = fmt(rt.get("sql_queries")), fmt(rt.get("redis_round_trips"))
    return f"; one accept is {sql} SQL queries and {trips} Redis round trips"


def losses(run: dict[str, Any], top: int = 3) -> str:
    lost = ((run.get("goodput") or {}).get("lost")) or {}
    biggest = sorted(((v, k) for k, v in lost.items() if isinstance(v, float) and v > 0), reverse=True)[:top]
    return ", ".join(f"{k.replace('_', ' ')} {v * 100:.1f}%" for v, k in biggest) or "no loss measured"


def ceiling(results: dict[str, Any], run: dict[str, Any]) -> str:
    """The most any system could deliver under this profile: injected faults spend slots too, so does the margin."""
    profile, lost = results.get("profile") or {}, (run.get("goodput") or {}).get("lost") or {}
    failing = sum(v for k, v in (profile.get("faults") or {}).items() if k != "rate_429")
    env = profile.get("interiorai_env") or {}
    window, margin = float(env.get("RATE_LIMIT_WINDOW_S", 0) or 0), float(env.get("RATE_LIMIT_SAFETY_S", 0) or 0)
    scale = float(str(profile.get("time_scale") or "1").rpartition("/")[2])  # "1/30": durations divided by 30
    if not window:
        return ""
    most, kept = (1 - failing) * window / (window + margin), margin / (window + margin)
    used = (run.get("throughput_ratio") or 0) + (lost.get("failed_calls") or 0)
    return (
        f"; calls sent (delivered + failed) used {fmt(used)} of the limit. The profile fails {share(failing)} of calls "
        f"on purpose and the limiter keeps {fmt(margin)} s per {fmt(window)} s window ({share(kept)}; "
        f"{share(margin / (window * scale))} at real scale): at most {fmt(most)} can be delivered, so this run "
        f"delivered {fmt((run.get('throughput_ratio') or 0) / most)} of what was possible"
    )


def best_accept(ours: list[dict[str, Any]]) -> str:
    steady = [r for r in ours if r["scenario"] == "steady" and r.get("accept_p99_ms")]
    if not steady:
        return ""
    best = min(steady, key=lambda r: r["accept_p99_ms"])
    return f"best {key(best)}: {fmt(best['accept_p99_ms'])} ms, {fmt(best['accept_p99_ms'] / 50)}x the target"


def tier_note(free: dict[str, Any], paid: dict[str, Any]) -> str:
    """What the shares say about the waits: who was kept out of the line, and who waited in the slow lane."""

    def refused(t: dict[str, Any]) -> float:
        return (t.get("refused") or 0) / max(t.get("offered") or t.get("submitted") or 1, 1)

    notes = []
    if refused(free) > refused(paid):
        notes.append("free jobs are refused at the door rather than queued behind paid ones")
    elif refused(paid) > 0:
        notes.append(f"paid jobs were refused too ({share(refused(paid))} of theirs)")
    if free.get("slow_lane"):
        notes.append(f"{free['slow_lane']} free jobs waited in the slow lane instead (not in these waits)")
    return ": " + "; ".join(notes) if notes else ""


def peak_rate(run: dict[str, Any]) -> str:
    """How fast the POSTs came at the busiest: the server's CPU, not the product's line, sets the tail there."""
    if not run.get("posts_peak_per_s"):
        return ""
    return f"; POSTs arrived at up to {fmt(run['posts_peak_per_s'])}/s (busiest 2 s)"


def deadline_why(run: dict[str, Any]) -> str:
    a, e = run.get("accepted_delivered") or {}, run.get("estimate_accuracy") or {}
    return (
        f"worst {key(run)}: {a.get('deadline_failed')} of {a.get('accepted')} ({share(a.get('deadline_share'))}); "
        f"there the 202's wait was short for {share(e.get('later_than_predicted_share'))} of jobs "
        f"(actual - predicted P90 {fmt(e.get('error_p90_s'))} s)"
    )


def target_rows(results: dict[str, Any]) -> list[Target]:
    ours = [r for r in results["runs"] if variant(r) == "interiorai"]
    rows: list[Target] = []
    biggest = max((r for r in ours if r["scenario"] == "steady"), key=lambda r: r["users"], default=None)
    if biggest:
        p99, p50 = biggest["accept_p99_ms"], biggest["accept_p50_ms"]
        load = (biggest.get("machine_load_1m") or {}).get("mean")
        rows.append(
            Target(
                f"accept P99 < 50 ms at {biggest['users']} users",
                f"{fmt(p99)} ms",
                p99 is not None and p99 < 50,
                best_accept(ours),
                f"P50 {fmt(p50)} ms, P99/P50 {fmt(p99 / p50 if p99 and p50 else None)}x: the tail queues for CPU "
                f"(load {fmt(load)} on {cpus(results)} cores){peak_rate(biggest)}{accept_cost(results)}",
            )
        )
    for b in (r for r in ours if r["scenario"] == "burst"):
        x = b.get("accept_vs_floor_p99")
        rows.append(
            Target(
                f"burst of {b['users']}: POST P99 within 2x the /healthz floor",
                f"{fmt(x)}x ({fmt(b['accept_p99_ms'])} vs {fmt(b.get('healthz_p99_ms'))} ms)",
                x is not None and x <= 2,
                f"{fmt(x / 2 if x else None)}x the target's 2x",
                f"{b['users']} simultaneous POSTs on {cpus(results)} cores: each does real work that /healthz does not"
                f"{accept_cost(results)}",
            )
        )
    bad = [key(r) for r in ours if r["lost"] or r["duplicated"]]
    rows.append(
        Target(
            "zero lost and zero duplicated in every scenario, chaos included",
            f"lost {sum(r['lost'] for r in ours)}, duplicated {sum(r['duplicated'] for r in ours)}",
            not bad,
            f"{len(ours) - len(bad)}/{len(ours)} scenarios clean",
            f"in {', '.join(bad)}",
        )
    )
    missed = [(r, r.get("accepted_delivered") or {}) for r in ours]
    total = sum(a.get("deadline_failed") or 0 for _, a in missed)
    judged = sum((a.get("accepted") or 0) - (a.get("accepted_while_provider_down") or 0) for _, a in missed)
    worst = max(missed, key=lambda m: m[1].get("deadline_share") or 0, default=None)
    rows.append(
        Target(
            "accepted means delivered: no accepted job misses its deadline (outages apart)",
            f"{total} of {judged} accepted missed it ({share(total / judged if judged else None)})",
            total == 0 if judged else None,
            f"{share(1 - total / judged if judged else None)} kept",
            deadline_why(worst[0]) if worst else "",
        )
    )
    saturated = [r for r in ours if (r.get("offered_ratio") or 0) >= 1.2 and r["scenario"] in ("steady", "burst")]
    for r in saturated:
        ok = (r["throughput_ratio"] or 0) >= 0.95 and r["provider_429_share"] < 0.01
        rows.append(
            Target(
                f"{key(r)}: throughput >= 0.95 of the limit, 429s < 1% of calls",
                f"{fmt(r['throughput_ratio'])}, 429s {share(r['provider_429_share'])}",
                ok,
                f"throughput at {fmt((r['throughput_ratio'] or 0) / 0.95)} of the target; "
                f"429s at {fmt(r['provider_429_share'] / 0.01)}x the 1% bound",
                f"the limit went to: {losses(r)}{ceiling(results, r)}",
            )
        )
    ws = [r for r in ours if r.get("ws_p95_ms") is not None]
    if ws:
        worst_ws = max(ws, key=lambda r: r["ws_p95_ms"])
        rows.append(
            Target(
                "WebSocket delivery P95 < 100 ms (commit to browser), every scenario",
                f"worst {key(worst_ws)}: {fmt(worst_ws['ws_p95_ms'])} ms",
                worst_ws["ws_p95_ms"] < 100,
                f"{sum(1 for r in ws if r['ws_p95_ms'] < 100)}/{len(ws)} scenarios under 100 ms; worst at "
                f"{fmt(worst_ws['ws_p95_ms'] / 100)}x the target",
                f"P50 {fmt(worst_ws.get('ws_p50_ms'))} ms there (from {worst_ws.get('ws_basis', 'finished_at')}; "
                f"from finished_at P95 {fmt(worst_ws.get('ws_from_finished_p95_ms'))} ms), machine load "
                f"{fmt((worst_ws.get('machine_load_1m') or {}).get('mean'))} on {cpus(results)} cores",
            )
        )
    for r in saturated:
        rows.append(paid_wait_row(r))
    return rows


def paid_wait_row(r: dict[str, Any]) -> Target:
    """Paid against free median wait, judged on jobs let in in the same provider window (see analyze.waits), with
    every delivered job's figure and the per-tier shares beside it."""
    served = r.get("served_by_tier") or {}
    free, paid = served.get("free") or {}, served.get("paid") or {}
    same = r.get("wait_paid_vs_free_same_time")
    x = same if same is not None else r.get("wait_paid_vs_free")
    jobs = r.get("wait_same_time_jobs") or {}
    how = (
        f"let in together: {jobs.get('paid')} paid, {jobs.get('free')} free jobs, P50 "
        f"{fmt(r.get('wait_same_time_paid_p50_s'))} s against {fmt(r.get('wait_same_time_free_p50_s'))} s; "
        if same is not None
        else ""
    )
    return Target(
        f"{key(r)}: paid median wait <= 1/2 free",
        f"{fmt(x)}x" + (" (let in together)" if same is not None else ""),
        x is not None and x <= 0.5,
        f"{fmt(x / 0.5 if x else None)}x the target's ratio",
        how + f"over every delivered job {fmt(r.get('wait_paid_vs_free'))}x (P50 paid {fmt(r.get('wait_paid_p50_s'))} "
        f"s, free {fmt(r.get('wait_free_p50_s'))} s); free {free.get('delivered', free.get('ok'))}/"
        f"{free.get('offered', free.get('submitted'))} delivered ({free.get('refused')} refused), paid "
        f"{paid.get('delivered', paid.get('ok'))}/{paid.get('offered', paid.get('submitted'))} "
        f"({paid.get('refused')} refused)" + tier_note(free, paid),
    )


def targets(results: dict[str, Any]) -> str:
    rows = target_rows(results)
    if not rows:
        return "No InteriorAI run in this file."
    return table(["target", "this run", "met?", "closest", "why"], [t.row() for t in rows])


def promises_table(results: dict[str, Any]) -> str:
    """Accepted means delivered, and how good the 202's predicted wait was, per scenario (InteriorAI)."""
    rows = []
    for r in results["runs"]:
        if variant(r) != "interiorai":
            continue
        a = r.get("accepted_delivered") or {}
        e = r.get("estimate_accuracy") or {}
        rows.append(
            [
                key(r),
                str(a.get("accepted", "-")),
                f"{a.get('deadline_failed', '-')} ({share(a.get('deadline_share'))})",
                f"{a.get('deadline_failed_provider_down', 0)} of {a.get('accepted_while_provider_down', 0)}",
                str(e.get("jobs", "-")),
                f"{fmt(e.get('error_p50_s'))} / {fmt(e.get('error_p90_s'))}",
                share(e.get("within_50pct_share")),
                share(e.get("later_than_predicted_share")),
                share(e.get("started_after_predicted_share")),
                f"{fmt(r.get('ws_p95_ms'))} ({r.get('ws_basis', 'finished_at')})",
            ]
        )
    return table(
        [
            "scenario",
            "accepted",
            "then missed the deadline",
            "missed / accepted while the provider was down",
            "estimates judged",
            "actual - predicted P50/P90 s",
            "within ±50%",
            "ready later than predicted",
            "started after the predicted ready time",
            "WS P95 ms (from)",
        ],
        rows,
    )


def tiers_table(results: dict[str, Any]) -> str:
    rows = []
    for r in results["runs"]:
        if variant(r) != "interiorai":
            continue
        for tier in ("free", "pro", "business", "paid"):
            t = (r.get("served_by_tier") or {}).get(tier)
            if not t or "offered" not in t:
                continue
            rows.append(
                [
                    key(r),
                    tier,
                    str(t["offered"]),
                    str(t["refused"]),
                    f"{t['accepted']} ({t['slow_lane']} slow)",
                    str(t["delivered_in_deadline"]),
                    share(t["share_in_deadline"]),
                    f"{fmt(t['wait_p50_s'])} / {fmt(t['wait_p95_s'])}",
                ]
            )
    return table(
        [
            "scenario",
            "tier",
            "offered",
            "refused",
            "accepted (slow lane)",
            "delivered within the deadline",
            "share of offered",
            "wait of delivered P50/P95 s",
        ],
        rows,
    )


GOODPUT = (
    ("unused_200", "200s not delivered"),
    ("failed_calls", "failed calls"),
    ("safety_margin", "safety margin"),
    ("idle_while_waiting", "idle while jobs waited"),
    ("ramp_up", "ramp-up"),
    ("drain", "drain"),
    ("no_demand", "no demand"),
    ("provider_down", "provider down"),
    ("window_edges", "window edges"),
)


def goodput_table(results: dict[str, Any]) -> str:
    rows = []
    for r in results["runs"]:
        g = r.get("goodput")
        if not g:
            continue
        lost = g["lost"]
        rows.append(
            [
                key(r),
                variant(r),
                f"{fmt(g['ideal_calls'])} in {fmt(g['busy_window_s'])} s",
                share(g["delivered"]),
                *[share(lost.get(name)) for name, _ in GOODPUT],
                fmt(g.get("bookings_released")),
            ]
        )
    labels = [label for _, label in GOODPUT]
    return table(["scenario", "system", "ideal calls", "delivered", *labels, "bookings released"], rows)


def slow_lane_table(results: dict[str, Any]) -> str:
    rows = []
    for r in results["runs"]:
        s = r.get("slow_lane")
        if not s:
            continue
        paid = (r.get("served_by_tier") or {}).get("paid") or {}
        e = r.get("estimate_accuracy_slow") or {}
        rows.append(
            [
                key(r),
                f"{s['offered']} / {s['taken']} / {s['accepted']} / {s['delivered']}",
                f"{fmt(s['wait_p50_s'])} / {fmt(s['wait_p95_s'])} (offered {fmt(s['offered_wait_p50_s'])})",
                f"{fmt(e.get('error_p50_s'))} / {fmt(e.get('error_p90_s'))}",
                f"{s['calls']} ({share(s['calls_share'])})",
                str(s["calls_while_no_standard_waiting"]),
                str(s["calls_while_paid_waiting"]),
                share((r.get("goodput") or {}).get("busy_share")),
                share((r.get("goodput") or {}).get("idle_while_only_slow_lane_waited")),
                f"{fmt(paid.get('wait_p50_s'))} / {fmt(paid.get('wait_p95_s'))}",
            ]
        )
    return table(
        [
            "scenario",
            "offered / taken / accepted / delivered",
            "wait P50/P95 s",
            "actual - predicted P50/P90 s",
            "calls (share of all)",
            "calls while no standard job waited",
            "calls while a paid job waited",
            "provider busy (share of ideal)",
            "left idle while only slow-lane jobs waited",
            "paid wait P50/P95 s",
        ],
        rows,
    )


def roundtrips_text(results: dict[str, Any]) -> str:
    rt = results.get("roundtrips")
    if not rt:
        return "Not measured in this run."
    if "error" in rt:
        return f"Not measured: {rt['error']}"
    cold = rt.get("cold") or {}
    commands = ", ".join(f"{k} {v}" for k, v in sorted((rt.get("redis_commands") or {}).items()))
    handshake = " (it connects afresh for the event: HELLO, CLIENT SETINFO)" if "HELLO" in commands else ""
    return (
        f"One `POST /api/v1/generations/` (median of {rt['requests'] - 1} warm requests, free users, workers up): "
        f"**{fmt(rt['sql_queries'])} SQL queries**, **{fmt(rt['redis_round_trips'])} Redis round trips**, "
        f"{fmt(rt.get('channel_layer_round_trips'))} of them the channel layer's{handshake} "
        f"(commands: {commands}), **{fmt(rt['celery_publishes'])} Celery publish**; the 202 said position "
        f"{(rt.get('samples') or [{}])[-1].get('position')}, estimated wait "
        f"{(rt.get('samples') or [{}])[-1].get('estimated_wait_s')} s. The first request of the process (cold): "
        f"{cold.get('sql_queries')} SQL, {cold.get('redis_round_trips')} Redis round trips."
    )


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
        "## One accept",
        "",
        roundtrips_text(results),
        "",
        "## Accepted means delivered, and the predicted wait",
        "",
        promises_table(results),
        "",
        "## Per tier: offered jobs delivered within the deadline",
        "",
        tiers_table(results),
        "",
        "## Goodput: where the provider's limit went",
        "",
        "Shares of the ideal (the limit times the busy window, first submission to last result); they add up to 100%.",
        "",
        goodput_table(results),
        "",
        "## The slow lane",
        "",
        slow_lane_table(results) if any(r.get("slow_lane") for r in results["runs"]) else "No slow lane offered.",
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
