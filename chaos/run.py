"""Run the chaos scenarios: `python -m chaos.run [--scenario NAME[,NAME]] [--smoke] [--hosts N] [--out FILE]`.

Starts a private PostgreSQL, Redis and sandbox on a bridge, web, beat and N worker hosts each in a network
namespace of its own (plain processes without root), then for each scenario: its users upload rooms, its jobs go
in through the API, its nemesis strikes, everything drains, and the history checker judges the records. Writes
docs/chaos/latest.json and docs/chaos/README.md (or --out). Bounded: every wait has a limit, the whole run too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from chaos import checker, nemesis, profile, report
from chaos.cluster import Cluster
from chaos.load import Load
from chaos.net import Network, why_no_namespaces
from harness.procs import ROOT, install_signal_handlers, stop_all

VAR = Path(os.environ.get("CHAOS_VAR_DIR") or ROOT / "var" / "chaos")
RESULTS = ROOT / "docs" / "chaos" / "latest.json"
MAX_TOTAL_S = float(os.environ.get("CHAOS_MAX_S", "1200"))
DRAIN_LIMIT_S = 150.0


def log(message: str) -> None:
    print(f"[chaos {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Scenario:
    name: str
    nemesis: Callable[[Cluster, nemesis.SandboxLog], nemesis.Nemesis]
    hosts: int = 3
    jobs: int = 60
    rate: float = 2.0  # submissions per second (0: as fast as possible)
    users: int = 6
    at_s: float = 10.0  # when the nemesis strikes, counted from the first submission
    goodput: bool = False
    needs_namespaces: bool = False
    allows_429: bool = False


def calm(hosts: int) -> Scenario:
    # 1.3 times the limit for 30 s: a backlog forms at once and lasts until the end.
    return Scenario(f"calm_{hosts}_hosts", nemesis.Calm, hosts=hosts, jobs=78, rate=2.6, goodput=True)


SCENARIOS = [
    Scenario("sigkill", nemesis.KillWorker),
    Scenario("sigstop", nemesis.FreezeHost),
    Scenario("cut_redis", lambda c, lg: nemesis.CutOff(c, lg, "redis"), needs_namespaces=True),
    Scenario("cut_postgres", lambda c, lg: nemesis.CutOff(c, lg, "postgres"), needs_namespaces=True),
    Scenario("clock_skew", nemesis.ClockSkew),
    Scenario("two_beats", nemesis.TwoBeats),
    Scenario("leader_kill", nemesis.KillLeader, rate=3.0),
    Scenario("redis_restart", nemesis.RedisRestart, jobs=300, rate=0, users=20, at_s=0, allows_429=True),
    Scenario("provider_outage", nemesis.ProviderOutage, at_s=8),
    calm(1),
    calm(2),
    calm(4),
    # Last: it moves media to S3, which restarts every process.
    Scenario("s3_down", nemesis.S3Down, needs_namespaces=True),
]
SMOKE = Scenario("smoke_sigkill", nemesis.KillWorker, hosts=2, jobs=16, rate=3.0, users=4, at_s=2.0)
BY_NAME = {s.name: s for s in [*SCENARIOS, SMOKE]}


def run_scenario(cluster: Cluster, scenario: Scenario, index: int, tokens: dict[str, str]) -> dict[str, Any]:
    tag = f"chx{index:02d}"
    cluster.set_hosts(scenario.hosts)
    cluster.sandbox.reset()
    cluster.sandbox.configure(**profile.sandbox_config())
    sandbox_log = nemesis.SandboxLog(cluster)
    nem = scenario.nemesis(cluster, sandbox_log)
    nem.at_s = scenario.at_s if scenario.name != "redis_restart" else nem.at_s
    load = Load(cluster.web_url, {u: t for u, t in tokens.items() if u.startswith(tag + "_")}, tag)
    nem.before()  # first: moving media to S3 restarts the web, and the rooms must be stored where jobs read them
    load.upload_rooms()
    sandbox_log.start()
    began = time.time()
    spent_before = spent(cluster)
    load_done = threading.Event()

    def submit() -> None:
        try:
            load.run(scenario.jobs, scenario.rate)
        finally:
            load_done.set()

    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()
    if scenario.name == "redis_restart":
        # Park the 300 jobs first: the restart comes once every one was accepted (they wait for the provider).
        load_done.wait(120)
        nem.strike()
    else:
        time.sleep(max(0.0, scenario.at_s - (time.time() - began)))
        striker = threading.Thread(target=nem.strike, daemon=True)
        striker.start()
        striker.join(90)
    load_done.wait(180)
    submitted_at = time.time()
    nem.after()
    drained = drain(cluster, tag, [j.id for j in load.accepted() if j.id])
    time.sleep(1.5)  # the last answers reach the sandbox's log
    sandbox_log.stop()
    spent_after = spent(cluster)
    accepted = [{"id": j.id, "token": j.token} for j in load.accepted()]
    events = [e.as_dict() for e in nem.events]
    result = checker.check(
        scenario=scenario.name,
        tag=tag,
        database_url=cluster.pg.url,
        env=cluster.env(),
        accepted=accepted,
        upstream_all=sandbox_log.all(),
        events=events,
        isolated=cluster.net.isolated,
        load_window=(began, submitted_at),
        allow_429_after=next((e.end for e in nem.events if e.kind == "redis_restart"), None),
        goodput=scenario.goodput,
    )
    result.update(
        machine_load_1m=round(os.getloadavg()[0], 1),
        hosts=scenario.hosts,
        nemesis=nem.kind,
        events=events,
        load=load.summary(),
        drain_s=round(drained, 1),
        duration_s=round(time.time() - began, 1),
        costs=costs(spent_before, spent_after, result.get("delivered", 0), time.time() - began),
    )
    run_dir = VAR / "runs" / scenario.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "sandbox-requests.json").write_text(json.dumps(sandbox_log.all()))
    return result


def spent(cluster: Cluster) -> dict[str, int]:
    """What the whole cluster has asked of Redis and PostgreSQL so far (commands, transactions); {} if unreadable."""
    try:
        commands = int(cluster.redis.client().info("stats")["total_commands_processed"])
        with psycopg.connect(cluster.pg.url, autocommit=True) as connection:
            row = connection.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return {"redis_commands": commands, "pg_transactions": int(row[0]) if row else 0}
    except Exception as exc:  # a figure for the projection, never a reason to fail a scenario
        log(f"costs not read: {exc}")
        return {}


def costs(before: dict[str, int], after: dict[str, int], delivered: int, seconds: float) -> dict[str, Any]:
    """Redis commands and database transactions per delivered job and per second, over the scenario (every process:
    web, workers, beat, their background loops). None where a counter went back (Redis restarted empty)."""
    out: dict[str, Any] = {"seconds": round(seconds, 1), "delivered": delivered}
    for key in ("redis_commands", "pg_transactions"):
        used = after.get(key, -1) - before.get(key, 0)
        ok = key in before and key in after and used >= 0
        out[key] = used if ok else None
        out[f"{key}_per_job"] = round(used / delivered, 1) if ok and delivered else None
        out[f"{key}_per_s"] = round(used / seconds, 1) if ok and seconds else None
    return out


def drain(cluster: Cluster, tag: str, ids: list[str]) -> float:
    """Wait until every job of the scenario is final, or the latest deadline (plus a grace) has passed; bounded."""
    import psycopg

    started = time.monotonic()
    while time.monotonic() - started < DRAIN_LIMIT_S:
        with contextlib.suppress(psycopg.Error), psycopg.connect(cluster.pg.url, connect_timeout=3) as db:
            row = db.execute(
                "SELECT count(*), max(deadline_at) > now() - interval '3 seconds' FROM generation_generation"
                " WHERE id::text = ANY(%s) AND status NOT IN ('succeeded','failed','cancelled')",
                [ids],
            ).fetchone()
            if row is not None and (row[0] == 0 or not row[1]):
                break
        time.sleep(0.5)
    # Settling follows the final state in the same transaction; the sweep may still release a straggler's hold.
    time.sleep(1.0)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--smoke", action="store_true", help="the small scenario of `make test` only")
    parser.add_argument("--hosts", type=int, default=0, help="worker hosts for the nemesis scenarios (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        chosen = [SMOKE]
    elif args.scenario:
        chosen = [BY_NAME[name] for name in args.scenario.split(",") if name]
    else:
        chosen = list(SCENARIOS)
    if args.hosts:
        chosen = [s if s.goodput else Scenario(**{**s.__dict__, "hosts": args.hosts}) for s in chosen]
    install_signal_handlers()
    began = time.monotonic()
    reason = why_no_namespaces()
    if reason:
        log(f"no network namespaces ({reason}): the hosts run as plain processes on 127.0.0.1")
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "commit": commit(),
        "namespaces": reason is None,
        "no_namespaces_because": reason,
        "profile": {
            "window_s": profile.WINDOW_S,
            "limit": profile.LIMIT,
            "limit_per_s": profile.limit_per_s(),
            "latency_s": list(profile.LATENCY_S),
            "lease_s": profile.LEASE_S,
            "deadline_s": profile.DEADLINE_S,
            "product_env": profile.product_env(),
        },
        "scenarios": [],
        "skipped": [],
    }
    for sub in ("logs", "media", "redis", "runs"):
        shutil.rmtree(VAR / sub, ignore_errors=True)
    (VAR / "logs").mkdir(parents=True, exist_ok=True)
    try:
        with Network(isolated=reason is None) as network:
            cluster = Cluster(VAR, network, hosts=max(s.hosts for s in chosen))
            try:
                log(f"services: postgres, redis, sandbox on {network.service_addr}")
                cluster.start_services()
                indexed = list(enumerate(chosen, start=1))
                users = [f"chx{i:02d}_{u:02d}" for i, s in indexed for u in range(s.users)]
                tokens = cluster.setup_database(users)
                cluster.start_web()
                cluster.start_beat()
                log(f"web at {cluster.web_url}; beat; {len(users)} users")
                for index, scenario in indexed:
                    if scenario.needs_namespaces and not network.isolated:
                        results["skipped"].append({"scenario": scenario.name, "why": f"needs namespaces ({reason})"})
                        continue
                    if time.monotonic() - began > MAX_TOTAL_S:
                        results["skipped"].append({"scenario": scenario.name, "why": "time budget"})
                        continue
                    log(f"{scenario.name}: {scenario.hosts} hosts, {scenario.jobs} jobs")
                    try:
                        result = run_scenario(cluster, scenario, index, tokens)
                    except Exception as exc:
                        log(f"{scenario.name}: the harness failed: {exc!r}")
                        result = {"scenario": scenario.name, "ok": False, "failures": [f"harness: {exc!r}"]}
                    results["scenarios"].append(result)
                    log(f"  {brief(result)}")
                    write(results, args.out)
            finally:
                cluster.stop()
    finally:
        stop_all()
    results["duration_s"] = round(time.monotonic() - began, 1)
    results["ok"] = all(s.get("ok") for s in results["scenarios"]) and bool(results["scenarios"])
    write(results, args.out)
    if not args.no_report:
        report.render(args.out)
    log(f"done in {results['duration_s']:.0f}s: {'every invariant holds' if results['ok'] else 'FAILURES'}")
    raise SystemExit(0 if results["ok"] else 1)


def brief(result: dict[str, Any]) -> str:
    if "jobs" not in result:
        return f"FAILED {result.get('failures')}"
    good = f" goodput={result['goodput']['ratio']}" if "goodput" in result else ""
    return (
        f"{'ok' if result['ok'] else 'FAILED'} jobs={result['jobs']} {result['statuses']} lost={result['lost']} "
        f"calls={result['calls_upstream']}/{result['calls_recorded']} wasted={result['wasted_paid_calls']}"
        f"/{result['exposed_in_flight']} 429={result['provider_429']} window={result['max_window_requests']}"
        f"/{result['limit']}{good} ledger={result['check_ledger']} {result['failures']}"
    )


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    tmp.replace(out)


if __name__ == "__main__":
    main()
