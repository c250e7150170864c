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
    events: list[dict[str, Any]] | None = None,
    publishes: dict[str, float] | None = None,
) -> dict[str, Any]:
    jobs = [j for j in load["jobs"] if "t_submit" in j]
    # Every POST /generations the client made: a slow-lane job was asked for twice (refused, then taken).
    posts = [(j["t_submit"], j[k]) for j in jobs for k in ("accept_ms", "slow_accept_ms") if k in j]
    accept = [ms for _, ms in posts]
    # The busiest 2 s of POSTs: a steady scenario's users all think from the same moment, so its first seconds
    # carry the peak arrival rate.
    per_bucket = Counter(int((t - load.get("t0", 0)) // 2) for t, _ in posts)
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
        "posts_peak_per_s": max(per_bucket.values(), default=0) / 2,
        "accepted": sum(1 for j in jobs if j.get("accept_status") in (200, 202)),
        "succeeded": len(got),
        "failed": len(jobs) - len(got) - lost,
        "lost": lost,
        "unfinished_in_deadline": len((db or {}).get("unfinished", {})) if db else None,
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
    run.update(delivery(system, got, db, publishes))
    run.update(waits(system, got, db))
    outages = outage_windows(events or [])
    run["served_by_tier"] = served_by_tier(system, jobs, got, db)
    run["accepted_delivered"] = accepted_delivered(system, jobs, db, outages)
    if system == "interiorai" and db:
        run["estimate_accuracy"] = estimate_accuracy(jobs, db, lane="standard")
        run["estimate_accuracy_slow"] = estimate_accuracy(jobs, db, lane="slow")
    demand = Demand.of(system, jobs, got, db, requests, outages)
    run["goodput"] = demand.goodput(system, len(got), first_submit, successes[-1] if successes else None)
    run["slow_lane"] = slow_lane(jobs, got, db, demand)
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


def delivery(
    system: str, got: list[dict[str, Any]], db: dict[str, Any] | None, publishes: dict[str, float] | None = None
) -> dict[str, Any]:
    """How long the final state took to reach the client after the server committed it.

    InteriorAI publishes an update right after the commit that changed the job (`transaction.on_commit`), and the
    first thing publishing does is append it to the job's event log in Redis: the benchmark's own Redis reports
    that append (a keyspace notification), so `publishes` holds, per job, when its last update left after commit.
    Without it (or for a job it missed) the figure falls back to the `finished_at` the worker wrote inside the
    transaction, which also counts the rest of that transaction (settling the money) and the commit itself.
    """
    out: dict[str, Any] = {}
    if system == "interiorai" and db:
        rows = db["rows"]
        by_ws = [j for j in got if j.get("final_source") == "ws" and j.get("id") in rows]
        from_finished = [
            (j["t_final"] - rows[j["id"]]["finished_at"]) * 1000 for j in by_ws if rows[j["id"]].get("finished_at")
        ]
        published = publishes or {}
        from_commit = [(j["t_final"] - published[j["id"]]) * 1000 for j in by_ws if j["id"] in published]
        basis = "commit" if published and len(from_commit) >= len(by_ws) * 0.9 else "finished_at"
        lat = from_commit if basis == "commit" else from_finished
        out["ws_p50_ms"], out["ws_p95_ms"] = pct(lat, 50), pct(lat, 95)
        out["ws_basis"] = basis
        out["ws_from_commit_p50_ms"], out["ws_from_commit_p95_ms"] = pct(from_commit, 50), pct(from_commit, 95)
        out["ws_from_finished_p50_ms"], out["ws_from_finished_p95_ms"] = pct(from_finished, 50), pct(from_finished, 95)
        out["ws_samples"] = len(lat)
        out["delivery_p50_ms"], out["delivery_p95_ms"] = out["ws_p50_ms"], out["ws_p95_ms"]
        out["finals_by_source"] = dict(Counter(j.get("final_source", "none") for j in got))
    elif system == "litellm":
        # Long-polls: from the task finishing on the server to the client holding the answer.
        lat = [(j["t_final"] - j["t_server_final"]) * 1000 for j in got if j.get("t_server_final")]
        out["delivery_p50_ms"], out["delivery_p95_ms"] = pct(lat, 50), pct(lat, 95)
    return out


def tier_group(tier: str) -> str:
    return "free" if tier == "free" else "paid"


def delivered_in_time(system: str, job: dict[str, Any], db: dict[str, Any] | None) -> bool:
    """A result the user got before the job's deadline (InteriorAI: the row's own, slow lane included)."""
    if system == "interiorai" and db and job.get("id") in db["rows"]:
        row = db["rows"][job["id"]]
        return row["status"] == "succeeded" and (row["deadline_at"] is None or row["finished_at"] <= row["deadline_at"])
    return "t_final" in job and job["t_final"] - job["t_submit"] <= profile.GENERATION_DEADLINE_S


def served_by_tier(
    system: str, jobs: list[dict[str, Any]], got: list[dict[str, Any]], db: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per tier (free, pro, business, and paid = pro + business): jobs offered, refused at the door (503 at
    capacity, counted once a user did not take the slow lane instead), accepted (either lane), delivered, delivered
    within the deadline, and that share of the offered jobs; beside them the waits of the delivered jobs.

    Waits cover delivered jobs only, so under overload they must be read with the shares: a tier that is refused
    more waits less. `submitted` and `ok` are the older names of `offered` and `delivered`.
    """
    delivered = {j["token"] for j in got}
    groups: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        for name in {job["tier"], tier_group(job["tier"])}:
            groups.setdefault(name, []).append(job)
    out: dict[str, dict[str, Any]] = {}
    for name, members in sorted(groups.items()):
        ok = [j for j in members if j["token"] in delivered]
        in_time = [j for j in ok if delivered_in_time(system, j, db)]
        waits_s = [wait_of(system, j, db) for j in ok if j.get("lane", "standard") == "standard"]
        out[name] = {
            "offered": len(members),
            "refused": sum(1 for j in members if j.get("accept_status") == 503),
            "accepted": sum(1 for j in members if j.get("accept_status") in (200, 202)),
            "slow_lane": sum(1 for j in members if j.get("lane") == "slow"),
            "delivered": len(ok),
            "delivered_in_deadline": len(in_time),
            "share_in_deadline": round(len(in_time) / len(members), 3) if members else None,
            "wait_p50_s": median(w for w in waits_s if w is not None),
            "wait_p95_s": pct((w for w in waits_s if w is not None), 95),
            "submitted": len(members),
            "ok": len(ok),
        }
    return out


def wait_of(system: str, job: dict[str, Any], db: dict[str, Any] | None) -> float | None:
    if system == "interiorai" and db and job.get("id") in db["rows"]:
        row = db["rows"][job["id"]]
        return row["finished_at"] - row["created_at"] if row.get("finished_at") else None
    return job["t_final"] - job["t_submit"] if "t_final" in job else None


def outage_windows(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """When the provider (all of it, or the primary) was down in a chaos scenario, from the run's events."""
    out: list[tuple[float, float]] = []
    began: float | None = None
    for event in sorted(events, key=lambda e: e["at"]):
        name = str(event.get("event", ""))
        if not name.startswith(("chaos_provider_outage", "chaos_primary_outage")):
            continue
        if name.endswith(":start"):
            began = event["at"]
        elif name.endswith(":end") and began is not None:
            out.append((began, event["at"]))
            began = None
    if began is not None:
        out.append((began, math.inf))
    return out


def overlaps(a: float, b: float, windows: list[tuple[float, float]]) -> bool:
    return any(a < end and b > start for start, end in windows)


def accepted_delivered(
    system: str, jobs: list[dict[str, Any]], db: dict[str, Any] | None, outages: list[tuple[float, float]]
) -> dict[str, Any]:
    """Accepted means delivered: accepted jobs that later failed on their deadline, and their share.

    Jobs that were in the system while the provider was down (a chaos outage) are counted apart: their deadline
    failures are the outage's, not a broken promise at the door.
    """
    accepted = [j for j in jobs if j.get("accept_status") == 202]
    missed, missed_down, down = 0, 0, 0
    for job in accepted:
        row = (db or {}).get("rows", {}).get(job.get("id")) if db else None
        if row is not None:
            failed = row["status"] == "failed" and row["error_code"] == "deadline"
            span = (row["created_at"], row["finished_at"] or math.inf)
        else:
            failed = job.get("final_error") == "deadline"
            span = (job["t_submit"], job.get("t_final", math.inf))
        hit = overlaps(*span, outages)
        down += hit
        if failed and hit:
            missed_down += 1
        elif failed:
            missed += 1
    judged = len(accepted) - down
    return {
        "accepted": len(accepted),
        "deadline_failed": missed,
        "deadline_share": round(missed / judged, 4) if judged else None,
        "accepted_while_provider_down": down,
        "deadline_failed_provider_down": missed_down,
    }


def estimate_accuracy(jobs: list[dict[str, Any]], db: dict[str, Any], *, lane: str) -> dict[str, Any]:
    """The wait the 202 predicted (`estimated_wait_s`: until the images are ready) against what happened.

    error = actual - predicted, actual = finished_at - created_at, over delivered jobs; the shares count every
    accepted job of the lane that got a result or missed its deadline (a miss is later than predicted and outside
    +-50 %). `started_after_predicted_share`: jobs whose first provider call went out after the predicted ready time.
    """
    rows = db["rows"]
    errors_s: list[float] = []
    within = late = started_late = judged = 0
    for job in jobs:
        row = rows.get(job.get("id") or "")
        predicted = job.get("predicted_wait_s")
        if row is None or predicted is None or row["lane"] != lane or row.get("cached"):
            continue
        if row["status"] == "succeeded" and row["finished_at"]:
            actual = row["finished_at"] - row["created_at"]
            errors_s.append(actual - predicted)
            within += abs(actual - predicted) <= 0.5 * max(predicted, 1e-9)
            late += actual > predicted
        elif row["status"] == "failed" and row["error_code"] == "deadline":
            late += 1
        else:
            continue
        judged += 1
        first = row.get("first_call_at")
        started_late += first is None or first - row["created_at"] > predicted
    return {
        "jobs": judged,
        "error_p50_s": median(errors_s),
        "error_p90_s": pct(errors_s, 90),
        "within_50pct_share": round(within / judged, 3) if judged else None,
        "later_than_predicted_share": round(late / judged, 3) if judged else None,
        "started_after_predicted_share": round(started_late / judged, 3) if judged else None,
    }


def waits(system: str, got: list[dict[str, Any]], db: dict[str, Any] | None) -> dict[str, Any]:
    """Time from accepted to result, paid (pro, business) against free, as users feel it.

    Over every delivered job, and over jobs let in at the same moment (`_same_time`: the same provider window, for
    windows that let in both). Under admission control the first comparison mixes two effects: a free job is only let
    in while the line is short, so the few that get in wait little, whatever priority does. The second one asks what
    priority is for: of two people let in together, how much sooner the paying one gets the result.
    """
    by_tier: dict[str, list[float]] = {"paid": [], "free": []}
    by_window: dict[int, dict[str, list[float]]] = {}
    for job in got:
        if job.get("lane") == "slow":
            continue  # the slow lane's waits are reported on their own (`slow_lane`)
        tier = tier_group(job["tier"])
        if system == "interiorai" and db and job.get("id") in db["rows"]:
            row = db["rows"][job["id"]]
            let_in, wait = row["created_at"], row["finished_at"] - row["created_at"]
        elif "t_final" in job:
            let_in, wait = job["t_submit"], job["t_final"] - job["t_submit"]
        else:
            continue
        by_tier[tier].append(wait)
        by_window.setdefault(int(let_in // profile.WINDOW_S), {"paid": [], "free": []})[tier].append(wait)
    together = [w for w in by_window.values() if w["paid"] and w["free"]]
    same_paid = median(x for w in together for x in w["paid"])
    same_free = median(x for w in together for x in w["free"])
    paid, free = median(by_tier["paid"]), median(by_tier["free"])
    return {
        "wait_paid_p50_s": paid,
        "wait_free_p50_s": free,
        "wait_paid_p95_s": pct(by_tier["paid"], 95),
        "wait_free_p95_s": pct(by_tier["free"], 95),
        "wait_paid_vs_free": round(paid / free, 2) if paid and free else None,
        "wait_same_time_paid_p50_s": same_paid,
        "wait_same_time_free_p50_s": same_free,
        "wait_same_time_jobs": {
            "paid": sum(len(w["paid"]) for w in together),
            "free": sum(len(w["free"]) for w in together),
        },
        "wait_paid_vs_free_same_time": round(same_paid / same_free, 2) if same_paid and same_free else None,
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


# Goodput: where the provider's limit went --------------------------------------------------------------------

Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The same time covered by non-overlapping intervals, in order."""
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def length(intervals: Iterable[Interval], within: Interval | None = None) -> float:
    total = 0.0
    for a, b in intervals:
        if within is not None:
            a, b = max(a, within[0]), min(b, within[1])
        total += max(b - a, 0.0)
    return total


def subtract(intervals: list[Interval], cut: list[Interval]) -> list[Interval]:
    out = []
    for a, b in intervals:
        pieces = [(a, b)]
        for c, d in cut:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[1] > p[0]]
        out += pieces
    return out


def clip(intervals: list[Interval], within: Interval) -> list[Interval]:
    return [(max(a, within[0]), min(b, within[1])) for a, b in intervals if a < within[1] and b > within[0]]


def free_slots(calls: list[float], limit: int, window: float, busy: Interval) -> list[tuple[float, float, int]]:
    """(from, to, free slots) over the busy window: each call holds a slot for `window` from when it arrived."""
    events = sorted([(at, 1) for at in calls] + [(at + window, -1) for at in calls])
    out: list[tuple[float, float, int]] = []
    used, cursor = 0, busy[0]
    for at, change in events:
        if at > cursor:
            stop = min(at, busy[1])
            if stop > cursor:
                out.append((cursor, stop, max(limit - used, 0)))
            cursor = max(cursor, stop)
        used += change
    if cursor < busy[1]:
        out.append((cursor, busy[1], max(limit - used, 0)))
    return out


def slot_seconds(free: list[tuple[float, float, int]], intervals: list[Interval]) -> float:
    """Free slots x seconds inside `intervals` (both sorted, neither overlapping itself)."""
    total, i = 0.0, 0
    for a, b, slots in free:
        while i < len(intervals) and intervals[i][1] <= a:
            i += 1
        j = i
        while j < len(intervals) and intervals[j][0] < b:
            total += slots * max(min(b, intervals[j][1]) - max(a, intervals[j][0]), 0.0)
            j += 1
    return total


def is_image_call(record: dict[str, Any]) -> bool:
    """An image call to the primary family (the limit the goodput is measured against): no moderation, no polls."""
    return record.get("provider", "openai") == "openai" and "/images/" in str(record.get("endpoint", ""))


def takes_slot(record: dict[str, Any], outages: list[Interval]) -> bool:
    """Whether the provider counted the call against its limit: a 429 is its refusal, and during an outage it
    answers 503 before counting anything."""
    status = record.get("status")
    if status == 429:
        return False
    at = record.get("received_at") or 0.0
    return not (status == 503 and overlaps(at, at, [(a, b) for a, b in outages]))


class Demand:
    """When jobs were waiting for a provider call, from their acceptance, their calls (sandbox log) and their end.

    A job waits from its acceptance (the client holding the 202) until its first call reaches the provider, and
    again from the end of a failed call until the next one (or its end); it does not wait while a call is in flight
    or after its last call succeeded. A job held back on purpose (its user at the in-flight cap, a retry's backoff)
    counts as waiting too.
    """

    def __init__(
        self,
        waiting: dict[str, list[Interval]],
        lanes: dict[str, str],
        tiers: dict[str, str],
        calls: list[dict[str, Any]],
        outages: list[Interval],
    ) -> None:
        self.waiting, self.lanes, self.tiers, self.calls, self.outages = waiting, lanes, tiers, calls, outages

    @classmethod
    def of(
        cls,
        system: str,
        jobs: list[dict[str, Any]],
        got: list[dict[str, Any]],
        db: dict[str, Any] | None,
        requests: list[dict[str, Any]],
        outages: list[Interval],
    ) -> Demand:
        calls = sorted((r for r in requests if is_image_call(r)), key=lambda r: r.get("received_at") or 0.0)
        by_token: dict[str, list[dict[str, Any]]] = {}
        for record in calls:
            token = token_of(record)
            if token:
                by_token.setdefault(token, []).append(record)
        rows = (db or {}).get("rows", {}) if system == "interiorai" else {}
        waiting: dict[str, list[Interval]] = {}
        lanes: dict[str, str] = {}
        tiers: dict[str, str] = {}
        for job in jobs:
            if job.get("accept_status") not in (200, 202) and not system.startswith("naive"):
                continue
            row = rows.get(job.get("id") or "")
            # From when the client held the 202: the row is inserted (`created_at`) inside a transaction that, on a
            # busy web tier, commits seconds later, and until then no worker can see the job.
            start = job.get("t_accepted") or (row["created_at"] if row else job["t_submit"])
            end = (row or {}).get("finished_at") or job.get("t_final") or math.inf
            calls_of_job = by_token.get(job["token"], [])
            if calls_of_job:  # a synchronous server keeps calling after its client gave up
                end = max(end, max(c.get("received_at") or start for c in calls_of_job))
            spans: list[Interval] = []
            cursor: float | None = start
            for call in calls_of_job:
                at = call.get("received_at") or start
                if cursor is not None:
                    spans.append((cursor, min(at, end)))
                cursor = None if call.get("status") == 200 else at + (call.get("duration_s") or 0.0)
            if cursor is not None:
                spans.append((cursor, end))
            waiting[job["token"]] = [(a, b) for a, b in spans if b > a]
            lanes[job["token"]] = (row or {}).get("lane") or job.get("lane") or "standard"
            tiers[job["token"]] = tier_group(job["tier"])
        return cls(waiting, lanes, tiers, calls, outages)

    def covered(self, select: Any = None) -> list[Interval]:
        return union(i for token, spans in self.waiting.items() if select is None or select(token) for i in spans)

    def goodput(self, system: str, delivered: int, start: float | None, end: float | None) -> dict[str, Any] | None:
        """Split the ideal (the limit x the busy window) into what delivered results and what was lost where.

        A call holds one of the provider's `limit` slots for its window, from when it reached the provider (the
        sandbox counts a sliding window the same way). The calls made are counted by what they gave (delivered, 200s
        not delivered, failed); the slots left free are integrated over time (free slots x seconds / window) and
        charged to what was happening then: jobs waiting (the limiter's safety margin, then idle), nobody waiting
        (ramp-up, drain, no demand) or the provider down. `window_edges` is what calls near the ends of the busy
        window hold outside it: the shares then add up to 1.
        """
        if start is None or end is None or end <= start:
            return None
        limit = min(profile.PROVIDER_RPM, profile.PROVIDER_IPM)
        window = profile.WINDOW_S
        safety = float(profile.interiorai_env()["RATE_LIMIT_SAFETY_S"]) if system == "interiorai" else 0.0
        busy = (start, end)
        ideal = limit / window * (end - start)
        slotted = [c for c in self.calls if takes_slot(c, self.outages)]
        inside = [c for c in slotted if start <= (c.get("received_at") or 0.0) <= end]
        ok = sum(1 for c in inside if c.get("status") == 200)
        free = free_slots([c.get("received_at") or 0.0 for c in slotted], limit, window, busy)
        down = union((max(a, start), min(b, end)) for a, b in self.outages if a < end and b > start)
        demand = subtract([(max(a, start), min(b, end)) for a, b in self.covered() if a < end and b > start], down)
        idle = subtract(subtract([busy], demand), down)
        # Ramp-up: before the line first held one window's burst (or before anyone waited, if it never did);
        # drain: after the last job stopped waiting (its last call left) until the last result arrived.
        saturated = self.first_time_waiting(limit)
        ramp_end = saturated if saturated is not None else (demand[0][0] if demand else end)
        drain_start = demand[-1][1] if demand else start
        ramp = clip(idle, (start, max(ramp_end, start)))
        drain = clip(idle, (min(drain_start, end), end))
        gaps = subtract(subtract(idle, ramp), drain)
        free_waiting = slot_seconds(free, demand) / window
        # Of that, the time only slow-lane jobs waited: the idle capacity the slow lane was there to fill.
        standard = self.covered(lambda token: self.lanes.get(token) != "slow")
        only_slow = subtract(demand, standard)
        safety_slots = min(len(inside) * safety / window, free_waiting)
        lost_free = {
            "safety_margin": safety_slots,
            "idle_while_waiting": free_waiting - safety_slots,
            "ramp_up": slot_seconds(free, ramp) / window,
            "drain": slot_seconds(free, drain) / window,
            "no_demand": slot_seconds(free, gaps) / window,
            "provider_down": slot_seconds(free, down) / window,
        }
        edges = ideal - len(inside) - sum(lost_free.values())

        def share(slots: float) -> float:
            return round(slots / ideal, 3)

        return {
            "ideal_calls": round(ideal, 1),
            "busy_window_s": round(end - start, 2),
            "calls_taking_a_slot": len(inside),
            "busy_share": share(len(inside)),
            "delivered": share(min(delivered, ok)),
            "lost": {
                "unused_200": share(max(ok - delivered, 0)),
                "failed_calls": share(len(inside) - ok),
                **{name: share(slots) for name, slots in lost_free.items()},
                "booking_waste": None,  # inside idle_while_waiting: not measured apart (see bench/METHOD.md)
                "window_edges": share(edges),
            },
            "idle_while_only_slow_lane_waited": share(slot_seconds(free, only_slow) / window),
            "seconds": {
                "demand": round(length(demand), 2),
                "only_slow_lane_waiting": round(length(only_slow), 2),
                "ramp_up": round(length(ramp), 2),
                "drain": round(length(drain), 2),
                "no_demand": round(length(gaps), 2),
                "provider_down": round(length(down), 2),
            },
        }

    def first_time_waiting(self, count: int) -> float | None:
        """The first moment at least `count` jobs waited at once."""
        steps = sorted(
            [(a, 1) for spans in self.waiting.values() for a, _ in spans]
            + [(b, -1) for spans in self.waiting.values() for _, b in spans]
        )
        level = 0
        for at, change in steps:
            level += change
            if level >= count:
                return at
        return None

    def waiting_at(self, at: float, select: Any, settled_s: float = 0.1) -> bool:
        """Whether a selected job had been waiting for at least `settled_s` at `at` (not one arriving that instant)."""
        return any(a + settled_s < at < b for token, spans in self.waiting.items() if select(token) for a, b in spans)


def slow_lane(
    jobs: list[dict[str, Any]], got: list[dict[str, Any]], db: dict[str, Any] | None, demand: Demand
) -> dict[str, Any] | None:
    """The slow lane: offered (a 503 that carried it), taken, accepted, delivered, its waits, and the calls it made:
    their share of all calls, how many went while nothing standard waited (idle capacity it filled), and how many
    went while a paid job had been waiting (paid should never wait behind it)."""
    offered = [j for j in jobs if "slow_offer_wait_s" in j]
    taken = [j for j in jobs if j.get("first_status") == 503]
    if not offered:
        return None
    slow = [j for j in jobs if j.get("lane") == "slow"]
    tokens = {j["token"] for j in slow}
    delivered = [j for j in got if j["token"] in tokens]
    waits_s = [w for j in delivered if (w := wait_of("interiorai", j, db)) is not None]
    slow_calls = [c for c in demand.calls if token_of(c) in tokens]
    standard = set(demand.waiting) - tokens
    paid = {t for t in standard if demand.tiers.get(t) == "paid"}
    stamps = [c.get("received_at") or 0.0 for c in slow_calls]
    return {
        "offered": len(offered),
        "taken": len(taken),
        "accepted": len(slow),
        "delivered": len(delivered),
        "failed": sum(1 for j in slow if j.get("final_status") == "failed"),
        "wait_p50_s": median(waits_s),
        "wait_p95_s": pct(waits_s, 95),
        "offered_wait_p50_s": median(j["slow_offer_wait_s"] for j in offered),
        "calls": len(slow_calls),
        "calls_share": round(len(slow_calls) / len(demand.calls), 3) if demand.calls else None,
        "calls_while_no_standard_waiting": sum(1 for t in stamps if not demand.waiting_at(t, standard.__contains__)),
        "calls_while_paid_waiting": sum(1 for t in stamps if demand.waiting_at(t, paid.__contains__)),
    }
