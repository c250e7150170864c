"""Turn one scenario's raw observations (client records, sandbox requests, database rows) into the reported figures."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bench import profile

FINAL = ("succeeded", "failed", "cancelled")
TOKEN = re.compile(r"bench job ([0-9a-f]{32})")


def pct(values: Iterable[float], q: float) -> float | None:
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    rank = max(math.ceil(q / 100 * len(data)) - 1, 0)
    return round(data[rank], 2)


def median(values: Iterable[float]) -> float | None:
    return pct(values, 50)


def token_of(record: dict[str, Any]) -> str | None:
    match = TOKEN.search(str((record.get("fields") or {}).get("prompt", "")))
    return match.group(1) if match else None


def provider_view(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Per job token: how many calls the provider saw and how many produced images."""
    calls: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for record in requests:
        token = token_of(record)
        if token is None:
            continue
        calls[token] += 1
        if record.get("status") == 200:
            ok[token] += 1
        if record.get("outcome") == "dropped":
            dropped[token] += 1  # the work was done (and would be billed) but the answer never arrived
    return {"calls": calls, "ok": ok, "dropped": dropped}


def summarize(
    *,
    system: str,
    scenario: Any,
    load: dict[str, Any],
    stats: dict[str, Any],
    requests: list[dict[str, Any]],
    db: dict[str, dict[str, Any]] | None,
    rss: dict[str, float],
    unit_price: float,
) -> dict[str, Any]:
    jobs = [j for j in load["jobs"] if "t_submit" in j]
    accept = [j["accept_ms"] for j in jobs if "accept_ms" in j]
    got = [j for j in jobs if j.get("final_status") == "succeeded" and j.get("fetched")]
    view = provider_view(requests)
    limit_per_s = profile.limit_per_s()

    lost_ids = set((db or {}).get("lost", {}).keys()) if db else set()
    if system == "litellm":
        # Lost: accepted, and the server no longer knows it (the process holding it died). A job the server
        # finished but whose state never reached the client is a delivery failure, not a loss.
        lost_ids = {
            j["token"]
            for j in jobs
            if j.get("accept_status") == 202 and "final_status" not in j and j.get("status_at_end") not in FINAL
        }
    lost = len(lost_ids)
    got_tokens = {j["token"] for j in got}
    errors: Counter[str] = Counter()
    for job in jobs:
        if job["token"] in got_tokens:
            continue
        if job.get("id") in lost_ids or job["token"] in lost_ids:
            errors["lost"] += 1
        elif "final_status" not in job and job.get("status_at_end") in FINAL:
            errors[f"{job['status_at_end']}_but_never_told"] += 1
        elif "final_status" not in job:
            errors["unfinished_at_end"] += 1
        elif job.get("final_status") == "succeeded":
            errors["result_not_fetched"] += 1
        else:
            errors[str(job.get("final_error") or job.get("final_status"))] += 1

    # Run twice: the provider answered the job's images more than once (each rendering is billed), whether or not
    # the system noticed; `duplicated_db` counts the jobs InteriorAI itself recorded two successful calls for.
    # Apart: jobs rendered again because the provider dropped the connection after rendering (the answer never
    # arrived, so the only way to deliver is another call); no client can avoid those without provider-side
    # idempotency, which the Images API does not offer.
    duplicated_tokens = {t for t, n in view["ok"].items() if n > 1}
    rerendered_tokens = {t for t in view["dropped"] if view["ok"][t] + view["dropped"][t] > 1} - duplicated_tokens
    billed = sum(view["ok"].values()) + sum(view["dropped"].values())
    wasted_billed = max(billed - len(got_tokens), 0)
    provider_calls = int(stats.get("requests_total", 0))
    by_status = stats.get("by_status", {})

    first_submit = min((j["t_submit"] for j in jobs), default=None)
    successes = sorted(j["t_final"] for j in got if "t_final" in j)
    run: dict[str, Any] = {
        "system": system,
        "scenario": scenario.name,
        "users": scenario.users,
        "jobs": len(jobs),
        "accept_p50_ms": pct(accept, 50),
        "accept_p95_ms": pct(accept, 95),
        "accept_p99_ms": pct(accept, 99),
        "accepted": sum(1 for j in jobs if j.get("accept_status") in (200, 202)),
        "succeeded": len(got),
        "failed": len(jobs) - len(got) - lost,
        "lost": lost,
        "duplicated": len(duplicated_tokens),
        "rerendered_after_drop": len(rerendered_tokens),
        "duplicated_db": len(db.get("duplicated_tokens", [])) if db else None,
        "errors_by_cause": dict(errors.most_common()),
        "provider_calls": provider_calls,
        "provider_200": int(by_status.get("200", 0)),
        "provider_429": int(by_status.get("429", 0)),
        "provider_429_share": round(int(by_status.get("429", 0)) / provider_calls, 4) if provider_calls else 0.0,
        "wasted_calls": max(provider_calls - len(got_tokens), 0),
        "wasted_billed_calls": wasted_billed,
        "wasted_cost_usd": round(wasted_billed * unit_price, 4),
        "throughput_ratio": None,
        "makespan_s": None,
        "makespan_ratio": None,
        "ws_p50_ms": None,
        "ws_p95_ms": None,
        "peak_rss_mb": round(rss.get("total", 0.0), 1),
        "peak_rss_web_mb": round(rss.get("web", 0.0), 1),
        "peak_rss_worker_mb": round(rss.get("worker", 0.0), 1),
    }
    if first_submit is not None and successes:
        busy_s = max(successes[-1] - first_submit, 1e-3)
        run["throughput_ratio"] = round(len(got) / busy_s / limit_per_s, 3)
        run["makespan_s"] = round(busy_s, 2)
        submits = [j["t_submit"] for j in got]
        served_at_limit = max(len(got) - min(profile.PROVIDER_RPM, profile.PROVIDER_IPM), 0) / limit_per_s
        lower = max(max(submits) - first_submit, served_at_limit) + profile.LATENCY_S[0]
        run["makespan_ratio"] = round(busy_s / lower, 2)
        run["offered_ratio"] = round(
            len(jobs) / max(max(j["t_submit"] for j in jobs) - first_submit, 1.0) / limit_per_s, 2
        )
    run.update(delivery(system, got, db))
    run.update(waits(system, got, db))
    run["served_by_tier"] = served_by_tier(jobs, got)
    if scenario.burst:
        floor = load.get("healthz_ms", [])
        run["healthz_p50_ms"] = pct(floor, 50)
        run["healthz_p95_ms"] = pct(floor, 95)
        run["healthz_p99_ms"] = pct(floor, 99)
        for q in (50, 95, 99):
            a, h = run[f"accept_p{q}_ms"], run[f"healthz_p{q}_ms"]
            run[f"accept_vs_floor_p{q}"] = round(a / h, 2) if a and h else None
    run["upload_p50_ms"] = pct(load.get("upload_ms", []), 50)
    run["upload_p95_ms"] = pct(load.get("upload_ms", []), 95)
    run["uploads"] = len(load.get("upload_ms", []))
    run["session_setup_s"] = round(load.get("setup_s", 0.0), 1)
    run["client"] = {k: load.get(k) for k in ("counters", "ws_messages", "ws_snapshot_requests")}
    run["timeline"] = timeline(jobs, got, requests)
    return run


def delivery(system: str, got: list[dict[str, Any]], db: dict[str, Any] | None) -> dict[str, Any]:
    """How long the final state took to reach the client after the server recorded it."""
    out: dict[str, Any] = {}
    if system == "interiorai" and db:
        rows = db["rows"]
        lat = [
            (j["t_final"] - rows[j["id"]]["finished_at"]) * 1000
            for j in got
            if j.get("final_source") == "ws" and j.get("id") in rows and rows[j["id"]].get("finished_at")
        ]
        out["ws_p50_ms"], out["ws_p95_ms"] = pct(lat, 50), pct(lat, 95)
        out["delivery_p50_ms"], out["delivery_p95_ms"] = out["ws_p50_ms"], out["ws_p95_ms"]
        out["finals_by_source"] = dict(Counter(j.get("final_source", "none") for j in got))
    elif system == "litellm":
        # Long-polls: from the task finishing on the server to the client holding the answer.
        lat = [(j["t_final"] - j["t_server_final"]) * 1000 for j in got if j.get("t_server_final")]
        out["delivery_p50_ms"], out["delivery_p95_ms"] = pct(lat, 50), pct(lat, 95)
    return out


def served_by_tier(jobs: list[dict[str, Any]], got: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per tier: jobs submitted, refused at the door (503 at capacity) and delivered. Waits cover delivered jobs
    only, so under overload they must be read with this: a tier that is refused more waits less."""
    delivered = {j["token"] for j in got}
    out: dict[str, dict[str, int]] = {}
    for job in jobs:
        tier = out.setdefault("free" if job["tier"] == "free" else "paid", {"submitted": 0, "refused": 0, "ok": 0})
        tier["submitted"] += 1
        tier["refused"] += job.get("accept_status") == 503
        tier["ok"] += job["token"] in delivered
    return out


def waits(system: str, got: list[dict[str, Any]], db: dict[str, Any] | None) -> dict[str, Any]:
    """Time from accepted to result, paid (pro, business) against free, as users feel it."""
    by_tier: dict[str, list[float]] = {"paid": [], "free": []}
    for job in got:
        tier = "free" if job["tier"] == "free" else "paid"
        if system == "interiorai" and db and job.get("id") in db["rows"]:
            row = db["rows"][job["id"]]
            by_tier[tier].append(row["finished_at"] - row["created_at"])
        elif "t_final" in job:
            by_tier[tier].append(job["t_final"] - job["t_submit"])
    paid, free = median(by_tier["paid"]), median(by_tier["free"])
    return {
        "wait_paid_p50_s": paid,
        "wait_free_p50_s": free,
        "wait_paid_p95_s": pct(by_tier["paid"], 95),
        "wait_free_p95_s": pct(by_tier["free"], 95),
        "wait_paid_vs_free": round(paid / free, 2) if paid and free else None,
    }


def timeline(
    jobs: list[dict[str, Any]],
    got: list[dict[str, Any]],
    requests: list[dict[str, Any]] | None = None,
    step: float = 1.0,
) -> dict[str, list[float]]:
    """Per second since the first submission: results delivered, images the provider returned, jobs in the system."""
    if not jobs:
        return {"t": [], "done_per_s": [], "provider_ok_per_s": [], "in_system": []}
    start = min(j["t_submit"] for j in jobs)
    end = max([j.get("t_final", j["t_submit"]) for j in jobs] + [start + step])
    slots = math.ceil((end - start) / step) + 1
    done = [0.0] * slots
    provider_ok = [0.0] * slots
    depth = [0.0] * slots
    for job in got:
        done[min(int((job["t_final"] - start) / step), slots - 1)] += 1 / step
    for record in requests or []:
        # Image answers only: moderation checks are logged too, but produce no image.
        if record.get("status") == 200 and record.get("received_at") and "/images/" in record.get("endpoint", ""):
            at = record["received_at"] + (record.get("duration_s") or 0) - start
            if 0 <= at < slots * step:
                provider_ok[int(at / step)] += 1 / step
    for job in jobs:
        first = int((job["t_submit"] - start) / step)
        last = int((job.get("t_final", end) - start) / step)
        for i in range(first, min(last, slots - 1) + 1):
            depth[i] += 1
    return {
        "t": [round(i * step, 1) for i in range(slots)],
        "done_per_s": done,
        "provider_ok_per_s": provider_ok,
        "in_system": depth,
    }
