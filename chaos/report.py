"""docs/chaos/README.md from docs/chaos/latest.json: one row per scenario, then the events of each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INTRO = """# Chaos runs

Written by `make chaos` (`python -m chaos.run`) from `latest.json` beside this page; the README's "Chaos" section
says what each scenario does and what the checker verifies. Every figure comes from records: the database's rows,
the sandbox's own request log and the ledger, never from what the product says of itself.

What the checker cannot see: which host wrote a provider call's row (rows carry no host; upstream calls do, by
their sender's address), so a call recorded but never sent is only bounded by the calls exposed on hit hosts; a
call is "held" by a host until its job ended by the database row's `finished_at`, which the finishing worker stamps
with its own clock (3 s off at most, in the clock-skew scenario only, where nothing is exposed); and the provider's
arrival time is the sandbox's handler start, which runs at a higher CPU priority so that it is close to the truth.
"""
HEADER = [
    "scenario",
    "nemesis",
    "hosts",
    "jobs",
    "lost",
    "calls upstream / recorded",
    "wasted paid calls (allowed: in flight on hit hosts)",
    "provider 429s",
    "max requests in a window / limit",
    "goodput ÷ limit",
    "ledger",
    "Redis commands / DB transactions per delivered job",
    "machine load (1 min)",
    "verdict",
]


def cells(result: dict[str, Any]) -> list[str]:
    if "jobs" not in result:
        return [result["scenario"], *["-"] * 12, f"FAILED: {result.get('failures')}"]
    why = ", ".join(sorted({e["kind"] for e in result.get("events", []) if e.get("exposes")}))
    wasted = f"{result['wasted_paid_calls']} (≤ {result['exposed_in_flight']}{': ' + why if why else ''})"
    rejected = str(result["provider_429"])
    if result.get("provider_429_allowed"):
        rejected += f" ({result['provider_429_allowed']} right after the restart)"
    goodput = f"{result['goodput']['ratio']:.3f}" if "goodput" in result else "-"
    verdict = "ok" if result["ok"] else "FAILED: " + "; ".join(result["failures"])
    return [
        result["scenario"],
        str(result.get("nemesis", "-")),
        str(result["hosts"]),
        str(result["jobs"]),
        str(result["lost"]),
        f"{result['calls_upstream']} / {result['calls_recorded']}",
        wasted,
        rejected,
        f"{result['max_window_requests']} / {result['limit']}",
        goodput,
        f"{result['check_ledger']}, {result['reservations_outstanding']} held",
        per_job(result.get("costs", {})),
        str(result.get("machine_load_1m", "-")),
        verdict,
    ]


def per_job(costs: dict[str, Any]) -> str:
    redis, pg = costs.get("redis_commands_per_job"), costs.get("pg_transactions_per_job")
    return f"{redis if redis is not None else '-'} / {pg if pg is not None else '-'}"


def summary(results: dict[str, Any]) -> str:
    p = results["profile"]
    if results.get("namespaces"):
        mode = "network namespaces"
    else:
        mode = f"plain processes ({results.get('no_namespaces_because')})"
    verdict = "Every invariant held in every scenario." if results.get("ok") else "Some invariants failed (verdicts)."
    return (
        f"Run {results['started_at']} on {results['machine']['cpus']} cores, commit `{results['commit'][:12]}`, "
        f"hosts in {mode}, {results.get('duration_s', '?')} s in all. Provider: {p['limit']} requests per "
        f"{p['window_s']} s window ({p['limit_per_s']} jobs/s), calls of {p['latency_s'][0]}-{p['latency_s'][1]} s; "
        f"leases {p['lease_s']} s, deadlines {p['deadline_s']} s. **{verdict}**\n"
    )


def event_line(scenario: str, event: dict[str, Any]) -> str:
    detail = f" {json.dumps(event['detail'])}" if event.get("detail") else ""
    where = ", ".join(event["hosts"]) or "the cluster"
    addrs = f" ({', '.join(event['addrs'])})" if event["addrs"] else ""
    lasted = max(event["end"] - event["start"], 0)
    answered = event.get("paid_answers_during")
    during = f"; {answered} paid answers came back meanwhile" if answered is not None and lasted else ""
    return f"- **{scenario}**: {event['kind']} on {where}{addrs}, {lasted:.1f} s: {event['note']}{during}{detail}"


def render(path: Path) -> None:
    results = json.loads(path.read_text())
    lines = [INTRO, summary(results)]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    lines.extend("| " + " | ".join(cells(r)) + " |" for r in results["scenarios"])
    for skipped in results.get("skipped", []):
        lines.append(f"| {skipped['scenario']} | skipped: {skipped['why']} |" + " |" * (len(HEADER) - 2))
    lines.append("\n## Events\n")
    for result in results["scenarios"]:
        lines.extend(event_line(result["scenario"], event) for event in result.get("events", []))
    (path.parent / "README.md").write_text("\n".join(lines) + "\n")
