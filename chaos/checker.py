"""The history checker: what happened, from records only (the database's rows, the provider's log, the ledger).

It never asks the product how it did. Jobs are the scenario's own (their owners' usernames carry its tag); upstream
calls are the sandbox's records whose prompt ends with one of those jobs' tokens; money is the ledger's rows.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chaos import profile
from harness.procs import ROOT

FINAL = ("succeeded", "failed", "cancelled")
DEADLINE_GRACE_S = 2.0  # the sweep that ends an overdue job runs every second


def rows(database_url: str, tag: str) -> dict[str, list[dict[str, Any]]]:
    """The scenario's generations, their provider calls and ledger entries, and its users' accounts."""
    like = f"{tag}\\_%"
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        generations = db.execute(
            "SELECT g.id::text AS id, g.status, g.prompt, g.billing_state, g.cost_usd, g.attempts, g.error_code,"
            " g.created_at, g.finished_at, g.deadline_at FROM generation_generation g"
            " JOIN auth_user u ON u.id = g.owner_id WHERE u.username LIKE %s",
            [like],
        ).fetchall()
        ids = [g["id"] for g in generations]
        calls = db.execute(
            "SELECT generation_id::text AS generation_id, attempt, outcome, status_code, error_code"
            " FROM generation_providercall WHERE generation_id::text = ANY(%s)",
            [ids],
        ).fetchall()
        ledger = db.execute(
            "SELECT generation_id::text AS generation_id, kind, spend_usd, reserved_usd, generations_used"
            " FROM billing_ledgerentry WHERE generation_id::text = ANY(%s)",
            [ids],
        ).fetchall()
        accounts = db.execute(
            "SELECT a.reserved_generations, a.reserved_usd FROM billing_account a"
            " JOIN auth_user u ON u.id = a.user_id WHERE u.username LIKE %s",
            [like],
        ).fetchall()
    return {"generations": generations, "calls": calls, "ledger": ledger, "accounts": accounts}


def check_ledger(env: dict[str, str]) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "manage.py", "check_ledger"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()[-500:]


def token_of(prompt: str) -> str:
    return prompt.split()[-1] if prompt else ""


def held(record: dict[str, Any], job: dict[str, Any] | None, start: float, end: float) -> bool:
    """Whether a host still held this call at some moment of [start, end]: sent by then, its job not yet ended.

    The provider's answer is not the end of a call for the host that made it: the host still has to read it,
    store the images and settle. A host frozen or killed in between holds a paid answer nobody else can use.
    """
    if float(record["received_at"]) > end:
        return False
    finished = job["finished_at"] if job else None
    return finished is None or finished.timestamp() >= start


def max_window(arrivals: list[float], window_s: float) -> int:
    """The most arrivals in any sliding window of `window_s` seconds."""
    best, first = 0, 0
    for last, stamp in enumerate(arrivals):
        while arrivals[first] <= stamp - window_s:
            first += 1
        best = max(best, last - first + 1)
    return best


def check(
    *,
    scenario: str,
    tag: str,
    database_url: str,
    env: dict[str, str],
    accepted: list[dict[str, Any]],
    upstream_all: list[dict[str, Any]],
    events: list[dict[str, Any]],
    isolated: bool,
    load_window: tuple[float, float],
    allow_429_after: float | None = None,
    goodput: bool = False,
) -> dict[str, Any]:
    data = rows(database_url, tag)
    gens = {g["id"]: g for g in data["generations"]}
    by_token = {token_of(g["prompt"]): g["id"] for g in gens.values()}
    upstream = [
        r
        for r in upstream_all
        if r["endpoint"].startswith("/v1/images") and f" {tag} " in str((r.get("fields") or {}).get("prompt", ""))
    ]
    failures: list[str] = []

    # 1. Every job ends, within its deadline; none lost.
    missing = [job["id"] for job in accepted if job["id"] not in gens]
    open_jobs = [g["id"] for g in gens.values() if g["status"] not in FINAL]
    late = [
        g["id"]
        for g in gens.values()
        if g["status"] in FINAL
        and g["finished_at"] is not None
        and (g["finished_at"] - g["deadline_at"]).total_seconds() > DEADLINE_GRACE_S
    ]
    lost = len(missing) + len(open_jobs)
    if lost:
        failures.append(f"{lost} jobs lost ({len(missing)} accepted but absent, {len(open_jobs)} never final)")
    if late:
        failures.append(f"{len(late)} jobs ended after their deadline")
    statuses = Counter(g["status"] for g in gens.values())

    # 2. Calls seen upstream == calls recorded, job by job.
    seen = Counter(by_token.get(token_of(str((r.get("fields") or {}).get("prompt", ""))), "?") for r in upstream)
    recorded = Counter(c["generation_id"] for c in data["calls"])
    unrecorded = sum(max(0, n - recorded.get(gid, 0)) for gid, n in seen.items())
    unsent = sum(max(0, n - seen.get(gid, 0)) for gid, n in recorded.items())

    # 3. Paid calls upstream - results delivered <= calls in flight on hosts a nemesis hit.
    paid = [r for r in upstream if r.get("status") == 200]
    delivered = statuses.get("succeeded", 0)
    wasted = len(paid) - delivered
    exposed_records: dict[int, dict[str, Any]] = {}
    for event in events:
        if not event["exposes"]:
            continue
        for record in upstream:
            same_host = not isolated or record.get("remote") in event["addrs"]
            job = gens.get(by_token.get(token_of(str(record["fields"].get("prompt", ""))), ""))
            if same_host and held(record, job, event["start"], event["end"]):
                exposed_records[record["id"]] = record
    exposed = len(exposed_records)
    for event in events:
        # What was at stake: calls the provider answered (and billed) while the nemesis lasted, across the cluster.
        event["paid_answers_during"] = sum(
            1
            for r in paid
            if r.get("duration_s") is not None
            and event["start"] <= float(r["received_at"]) + float(r["duration_s"]) <= max(event["end"], event["start"])
        )
    # Job by job: each paid call beyond the one result a job delivers must be one a nemesis left on a host it hit.
    unexplained: list[dict[str, Any]] = []
    paid_by_job: dict[str, list[dict[str, Any]]] = {}
    for record in paid:
        gid = by_token.get(token_of(str(record["fields"].get("prompt", ""))), "?")
        paid_by_job.setdefault(gid, []).append(record)
    for gid, records in paid_by_job.items():
        extra = len(records) - (1 if gens.get(gid, {}).get("status") == "succeeded" else 0)
        covered = sum(1 for r in records if r["id"] in exposed_records)
        if extra > covered:
            calls = [(r.get("remote"), round(float(r["received_at"]), 2)) for r in records]
            unexplained.append({"job": gid, "paid": len(records), "exposed": covered, "calls": calls})
    paid_twice = [
        gid for gid, n in Counter(by_token.get(token_of(r["fields"]["prompt"])) for r in paid).items() if n > 1
    ]
    if unrecorded:
        failures.append(f"{unrecorded} upstream calls with no record")
    if unsent > exposed:
        failures.append(f"{unsent} recorded calls never seen upstream, more than the {exposed} exposed")
    if wasted > exposed:
        failures.append(f"{wasted} paid calls without a delivered result, more than the {exposed} exposed")
    if unexplained:
        failures.append(f"{len(unexplained)} jobs paid for more often than a nemesis explains: {unexplained[:2]}")
    if wasted < 0:
        failures.append(f"{-wasted} results delivered without a paid call")

    # 4. Money: one reservation, one settlement; a capture exactly for each delivered result, at its cost.
    entries: dict[str, Counter[str]] = {}
    captured: dict[str, Decimal] = {}
    for entry in data["ledger"]:
        entries.setdefault(entry["generation_id"], Counter())[entry["kind"]] += 1
        if entry["kind"] == "capture":
            captured[entry["generation_id"]] = captured.get(entry["generation_id"], Decimal(0)) + entry["spend_usd"]
    money_errors = []
    for gid, g in gens.items():
        kinds = entries.get(gid, Counter())
        if kinds["reserve"] != 1:
            money_errors.append(f"{gid}: {kinds['reserve']} reservations")
        if g["status"] in FINAL and kinds["capture"] + kinds["release"] != 1:
            money_errors.append(f"{gid}: settled {kinds['capture'] + kinds['release']} times")
        if g["status"] == "succeeded" and (kinds["capture"] != 1 or captured.get(gid) != g["cost_usd"]):
            money_errors.append(
                f"{gid}: delivered, captured {kinds['capture']}x {captured.get(gid)} for {g['cost_usd']}"
            )
        if g["status"] in ("failed", "cancelled") and kinds["capture"]:
            money_errors.append(f"{gid}: {g['status']} but charged")
    outstanding = sum(1 for g in gens.values() if g["billing_state"] == "reserved")
    outstanding += sum(a["reserved_generations"] for a in data["accounts"])
    ledger_ok, ledger_output = check_ledger(env)
    if money_errors:
        failures.append(f"{len(money_errors)} charging errors, e.g. {money_errors[:3]}")
    if outstanding:
        failures.append(f"{outstanding} reservations outstanding after the drain")
    if not ledger_ok:
        failures.append(f"check_ledger failed: {ledger_output}")

    # 5. The provider's limit, from its own log: never more than LIMIT arrivals in a window, and no 429.
    arrivals = sorted(float(r["received_at"]) for r in upstream_all if r["endpoint"].startswith("/v1/images"))
    window_max = max_window(arrivals, profile.WINDOW_S) if arrivals else 0
    rejected = [r for r in upstream_all if r["endpoint"].startswith("/v1/images") and r.get("status") == 429]
    allowed_429 = 0
    if allow_429_after is not None:
        allowed_429 = sum(1 for r in rejected if float(r["received_at"]) <= allow_429_after + 2 * profile.WINDOW_S)
    if window_max > profile.LIMIT and allow_429_after is None:
        failures.append(f"{window_max} provider requests in one window, over the limit of {profile.LIMIT}")
    if len(rejected) > allowed_429:
        failures.append(f"{len(rejected) - allowed_429} provider 429s")

    result: dict[str, Any] = {
        "scenario": scenario,
        "jobs": len(gens),
        "accepted": len(accepted),
        "statuses": dict(statuses),
        "lost": lost,
        "late": len(late),
        "calls_upstream": len(upstream),
        "calls_recorded": len(data["calls"]),
        "unrecorded_upstream": unrecorded,
        "recorded_not_sent": unsent,
        "paid_upstream": len(paid),
        "delivered": delivered,
        "wasted_paid_calls": wasted,
        "exposed_in_flight": exposed,
        "unexplained_waste": unexplained,
        "jobs_paid_twice": len(paid_twice),
        "charging_errors": len(money_errors),
        "reservations_outstanding": outstanding,
        "check_ledger": "clean" if ledger_ok else ledger_output,
        "provider_429": len(rejected),
        "provider_429_allowed": allowed_429,
        "max_window_requests": window_max,
        "limit": profile.LIMIT,
        "calls_by_outcome": dict(Counter(c["outcome"] for c in data["calls"])),
        "errors": dict(Counter(g["error_code"] for g in gens.values() if g["error_code"])),
    }
    if goodput:
        result["goodput"] = measure_goodput(paid, load_window)
        if result["goodput"]["ratio"] < 0.95:
            result["goodput_below_target"] = True
    if allow_429_after is not None and window_max > profile.LIMIT:
        result["window_over_limit_after_restart"] = True
    result["failures"] = failures
    result["ok"] = not failures
    return result


def measure_goodput(paid: list[dict[str, Any]], load_window: tuple[float, float]) -> dict[str, Any]:
    """Paid calls (each a delivered result when nothing breaks) per second while jobs wait, over the limit."""
    stamps = sorted(float(r["received_at"]) for r in paid)
    if len(stamps) < 2:
        return {"ratio": 0.0, "calls": len(stamps), "seconds": 0.0}
    # From one window after the first call (the backlog has formed) to the last call (the backlog is gone).
    start, end = stamps[0] + profile.WINDOW_S, stamps[-1]
    calls = sum(1 for s in stamps if start <= s <= end)
    seconds = max(end - start, 1e-6)
    per_s = calls / seconds
    return {
        "ratio": round(per_s / profile.limit_per_s(), 3),
        "per_s": round(per_s, 3),
        "limit_per_s": profile.limit_per_s(),
        "calls": calls,
        "seconds": round(seconds, 1),
        "from": datetime.fromtimestamp(start, tz=UTC).isoformat(timespec="seconds"),
    }
