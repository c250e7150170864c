"""Run the benchmark: `python -m bench.run [--mode full|quick|smoke] [--systems a,b] [--scenarios steady,burst]`.

Starts a private Redis, the sandbox provider and, one after the other, each system under test on free loopback
ports; drives every scenario with simulated users (bench/load.py, its own process); observes the provider from
the sandbox's request log, memory with psutil and, for InteriorAI, the database; writes
docs/benchmarks/latest.json and regenerates docs/BENCHMARKS.md and the plot. Everything it starts is stopped
when it ends, is interrupted or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from bench import analyze, profile
from bench import publishes as bench_publishes
from bench.stack import InteriorAI, InteriorAIFailover, LiteLLMPeer, NaiveDaphne, NaiveGunicorn, Redis, Sandbox, System
from harness.procs import ROOT, Proc, install_signal_handlers, stop_all

VAR = Path(os.environ.get("BENCH_VAR_DIR") or ROOT / "var" / "bench")
DOCS = ROOT / "docs"
RESULTS = DOCS / "benchmarks" / "latest.json"
BENCH_DB = os.environ.get("BENCH_DB_NAME", "bench")
MAX_TOTAL_S = float(os.environ.get("BENCH_MAX_S", "1500"))


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


# The database ---------------------------------------------------------------------------------------------------


def prepare_database() -> str:
    """A fresh database of its own: `bench` on the PostgreSQL of DATABASE_URL, else SQLite under var/bench/."""
    source = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not source:
        path = VAR / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    parsed = urlparse(source)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"the benchmark only talks to loopback; DATABASE_URL points at {parsed.hostname}")
    import psycopg

    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return urlunparse(parsed._replace(path=f"/{BENCH_DB}"))


def drop_database(database_url: str) -> None:
    """Remove the run's own PostgreSQL database (the smoke test asks for this; `make bench` keeps it to inspect)."""
    parsed = urlparse(database_url)
    if not database_url.startswith("postgres") or parsed.path.strip("/") != BENCH_DB:
        return
    import psycopg

    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def base_env(database_url: str, redis_url: str, sandbox: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="interiorai.settings",
        DEBUG="0",
        TESTING="0",
        SECRET_KEY="bench-only-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        CHANNELS_PREFIX="bench-asgi",
        VAR_DIR=str(VAR),
        MEDIA_ROOT=str(VAR / "media"),
        OPENAI_BASE_URL=sandbox.api_base,
        REPLICATE_BASE_URL=sandbox.url,
        SANDBOX_PORT=str(sandbox.port),
        LOG_LEVEL="WARNING",
        # The benchmark's few users stand for many: the per-user rate of creates would refuse most of its load.
        API_THROTTLE_WORK="1000000/min",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    return env


# Observers ------------------------------------------------------------------------------------------------------


class Observer(threading.Thread):
    """Samples memory of the system's processes and keeps every sandbox request record while a scenario runs."""

    def __init__(self, system: System, sandbox: Sandbox) -> None:
        super().__init__(daemon=True, name="observer")
        self.system, self.sandbox = system, sandbox
        self.peak: dict[str, float] = {"web": 0.0, "worker": 0.0, "total": 0.0}
        self.records: dict[int, dict[str, Any]] = {}
        self.load_avg: list[float] = []  # the machine's 1-minute load: other work skews every timing
        self.cpu: dict[str, dict[int, tuple[float, float]]] = {}  # role -> pid -> (first, last) CPU seconds
        self.halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.halt.wait(0.5):
            self.sample_memory()
            self.load_avg.append(os.getloadavg()[0])
            tick += 1
            if tick % 2 == 0:
                self.poll_sandbox()

    def sample_memory(self) -> None:
        total = 0.0
        for role, procs in self.system.roles().items():
            mb = 0.0
            seen = self.cpu.setdefault(role, {})
            for proc in procs:
                for p in proc.tree():
                    with contextlib.suppress(Exception):
                        mb += p.memory_info().rss / 2**20
                        times = p.cpu_times()
                        used = times.user + times.system
                        seen[p.pid] = (seen.get(p.pid, (used, used))[0], used)
            self.peak[role] = max(self.peak.get(role, 0.0), mb)
            total += mb
        self.peak["total"] = max(self.peak["total"], total)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time each role's processes used while the scenario ran (what the machine paid for the load)."""
        return {role: round(sum(last - first for first, last in pids.values()), 1) for role, pids in self.cpu.items()}

    def poll_sandbox(self) -> None:
        with contextlib.suppress(Exception):
            for record in self.sandbox.requests():
                self.records[record["id"]] = record

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)
        self.poll_sandbox()


# InteriorAI's database view -------------------------------------------------------------------------------------


def interiorai_idle(timeout: float) -> None:
    from generation.models import Generation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Generation.objects.exclude(status__in=Generation.FINAL).exists():
            return
        time.sleep(0.5)


def interiorai_facts(since: float, wait_s: float = 45) -> dict[str, Any]:
    """Every job created in the scenario; waits (bounded) until each is final or past its deadline plus a grace."""
    from django.db.models import Count, Min, Q
    from django.utils import timezone

    from generation.models import Generation, ProviderCall

    start = datetime.fromtimestamp(since - 2, tz=UTC)
    rows = Generation.objects.filter(created_at__gte=start)
    grace = 10
    limit = time.monotonic() + wait_s
    while time.monotonic() < limit:
        open_rows = rows.exclude(status__in=Generation.FINAL)
        latest = open_rows.order_by("-deadline_at").values_list("deadline_at", flat=True).first()
        if latest is None or timezone.now().timestamp() > latest.timestamp() + grace:
            break
        time.sleep(0.5)
    facts: dict[str, Any] = {"rows": {}, "lost": {}, "unfinished": {}}
    # The first provider call of each job is written just before it is sent: when the job really started.
    rows = rows.annotate(first_call_at=Min("calls__started_at"))
    for row in rows.values(
        "id",
        "status",
        "error_code",
        "prompt",
        "created_at",
        "started_at",
        "finished_at",
        "deadline_at",
        "first_call_at",
        "attempts",
        "provider",
        "cost_usd",
        "lane",
        "cached",
    ):
        token = row["prompt"].split()[-1] if row["prompt"] else ""
        entry = {
            "status": row["status"],
            "error_code": row["error_code"],
            "token": token,
            "attempts": row["attempts"],
            "provider": row["provider"],
            "cost_usd": str(row["cost_usd"]),
            "created_at": row["created_at"].timestamp(),
            "started_at": stamp(row["started_at"]),
            "first_call_at": stamp(row["first_call_at"]),
            "finished_at": stamp(row["finished_at"]),
            "deadline_at": stamp(row["deadline_at"]),
            "lane": row["lane"],
            "cached": row["cached"],
        }
        facts["rows"][str(row["id"])] = entry
        if row["status"] not in Generation.FINAL:
            # Lost: still open 10 s past its deadline. A slow-lane job whose hours (scaled) outlast the scenario's
            # bound is not lost while it has time left: it is counted as unfinished.
            overdue = timezone.now().timestamp() > row["deadline_at"].timestamp() + grace
            facts["lost" if overdue else "unfinished"][str(row["id"])] = entry
    doubled = (
        ProviderCall.objects.filter(generation__created_at__gte=start)
        .values("generation_id")
        .annotate(ok=Count("id", filter=Q(outcome="success")))
        .filter(ok__gt=1)
    )
    ids = {str(d["generation_id"]) for d in doubled}
    facts["duplicated_tokens"] = [facts["rows"][i]["token"] for i in ids if i in facts["rows"]]
    calls = ProviderCall.objects.filter(generation__created_at__gte=start)
    facts["calls_by_outcome"] = dict(Counter_of(calls.values_list("outcome", flat=True)))
    return facts


def stamp(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def Counter_of(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


# One scenario ---------------------------------------------------------------------------------------------------


class Context:
    def __init__(self, redis: Redis, sandbox: Sandbox, users: list[dict[str, Any]], unit_price: float) -> None:
        self.redis, self.sandbox, self.users, self.unit_price = redis, sandbox, users, unit_price
        self.rooms: dict[str, dict[str, str]] = {}


def scenario_seed(scenario: profile.Scenario) -> int:
    return profile.SEED + zlib.crc32(scenario.key.encode()) % 10_000


def drain_s(system: System, scenario: profile.Scenario) -> float:
    # Jobs that are accepted can take until their deadline (30 s); synchronous ones end with the request.
    if system.kind == "interiorai" and scenario.slow_lane:
        return 42.0 + slow_lane_extra_s()  # slow-lane jobs have until their own, longer deadline
    return 42.0 if system.kind in ("interiorai", "litellm") else profile.DEADLINE_S + 3


def slow_lane_extra_s() -> float:
    # Bounded: the slow lane's scaled hours would hold the run for minutes if a job were stuck; one still open when
    # the bound passes is counted unfinished, not lost, while its deadline is ahead.
    return float(min(profile.SLOW_LANE_DEADLINE_S - profile.GENERATION_DEADLINE_S, profile.SLOW_LANE_DRAIN_S))


def run_scenario(ctx: Context, system: System, scenario: profile.Scenario) -> dict[str, Any]:
    ctx.sandbox.reset()
    ctx.sandbox.configure(**profile.sandbox_config(seed=scenario_seed(scenario)))
    if system.kind == "interiorai":
        interiorai_idle(45)
    setup_s = 30 + scenario.users * 0.3  # opening sessions and first uploads; bounded, not measured as load
    hard_stop_s = scenario.window_s + drain_s(system, scenario) + (35 if scenario.burst else 0)
    family = "litellm" if system.kind == "litellm" else "product"  # naive and InteriorAI share the database
    run_dir = VAR / "runs" / f"{system.name}-{scenario.key}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    ready_file = run_dir / "ready.json"
    config = {
        "system": system.kind,
        "base_url": system.url,
        "scenario": scenario.as_dict(),
        "users": ctx.users[: scenario.users],
        "seed": scenario_seed(scenario),
        "think_s": profile.THINK_S,
        "deadline_s": profile.DEADLINE_S,
        "setup_s": setup_s,
        "hard_stop_s": hard_stop_s,
        "ready_file": str(ready_file),
        "rooms": ctx.rooms.setdefault(family, {}),
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    observer = Observer(system, ctx.sandbox)
    observer.start()
    published = run_dir / "publishes.txt"
    publishes = None
    if system.kind == "interiorai":
        argv = [sys.executable, "-m", "bench.publishes", ctx.redis.url, str(published)]
        publishes = Proc("publishes", argv, {**os.environ, "PYTHONPATH": str(ROOT)}, run_dir / "publishes.log").start()
    loader = Proc(
        "load",
        [sys.executable, "-m", "bench.load", str(run_dir / "config.json"), str(run_dir / "load.json")],
        {**os.environ, "PYTHONPATH": str(ROOT)},
        run_dir / "load.log",
    ).start()
    plan: list[tuple[float, str]] | None = None if scenario.name.startswith("chaos_") else []
    limit = time.monotonic() + setup_s + hard_stop_s + 90
    events: list[dict[str, Any]] = []
    chaos_active = False
    try:
        while loader.alive() and time.monotonic() < limit:
            if plan is None and ready_file.exists():
                with contextlib.suppress(ValueError):
                    at = json.loads(ready_file.read_text())["t0"] + scenario.chaos_at_s
                    plan = [(at, "start"), (at + scenario.chaos_for_s, "end")]
            while plan and time.time() >= plan[0][0]:
                _, step = plan.pop(0)
                log(f"  chaos: {scenario.name} {step}")
                events.append({"at": time.time(), "event": f"{scenario.name}:{step}"})
                if step == "start":
                    system.chaos_start(scenario.name, ctx)
                    chaos_active = True
                else:
                    system.chaos_end(scenario.name, ctx)
                    chaos_active = False
            time.sleep(0.1)
        if chaos_active:
            system.chaos_end(scenario.name, ctx)
    finally:
        if loader.alive():
            log("  load generator overran its bound; stopping it")
        loader.stop(timeout=5)
    load = json.loads((run_dir / "load.json").read_text()) if (run_dir / "load.json").exists() else {"jobs": []}
    ctx.rooms[family].update(load.get("rooms", {}))
    db = None
    if system.kind == "interiorai":
        db = interiorai_facts(load.get("t0", time.time()), 45 + (slow_lane_extra_s() if scenario.slow_lane else 0))
    observer.stop()
    if publishes:
        publishes.stop()
    stats = ctx.sandbox.stats()
    requests = sorted(observer.records.values(), key=lambda r: r["id"])
    (run_dir / "sandbox-requests.json").write_text(json.dumps(requests))
    (run_dir / "sandbox-stats.json").write_text(json.dumps(stats))
    if db:
        (run_dir / "db.json").write_text(json.dumps(db))
    run = analyze.summarize(
        system=system.kind if system.kind == "interiorai" else system.name,
        scenario=scenario,
        load=load,
        stats=stats,
        requests=requests,
        db=db,
        rss=observer.peak,
        unit_price=ctx.unit_price,
        events=events,
        publishes=bench_publishes.last_per_job(published) if publishes else None,
    )
    if publishes and run.get("goodput"):
        run["goodput"]["bookings_released"] = bench_publishes.releases(published)
    run["system_variant"] = system.name
    run["system"] = system.name.split("-")[0]
    run["chaos_events"] = events
    run["cpu_s"] = observer.cpu_seconds()
    if observer.load_avg:
        run["machine_load_1m"] = {
            "mean": round(sum(observer.load_avg) / len(observer.load_avg), 1),
            "max": round(max(observer.load_avg), 1),
        }
    if db:
        run["provider_calls_by_outcome_db"] = db.get("calls_by_outcome")
    run["sandbox_stats"] = {
        k: stats.get(k)
        for k in (
            "requests_total",
            "by_status",
            "by_fault",
            "images_total",
            "dropped_total",
            "timeouts_total",
            "max_in_flight",
        )
    }
    return run


# The whole run --------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def make_system(name: str, env: dict[str, str], sandbox: Sandbox) -> System | None:
    if name == "interiorai":
        return InteriorAI(env, VAR)
    if name == "interiorai-failover":
        return InteriorAIFailover(env, VAR)
    if name == "naive-daphne":
        return NaiveDaphne(env, VAR)
    if name == "naive-gunicorn":
        return NaiveGunicorn(env, VAR)
    if name == "litellm":
        return LiteLLMPeer(env, VAR, sandbox) if LiteLLMPeer.available() else None
    raise SystemExit(f"unknown system {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    default_mode = os.environ.get("BENCH_MODE") or (
        "quick" if os.environ.get("QUICK") in ("1", "true", "yes") else "full"
    )
    parser.add_argument("--mode", choices=sorted(profile.MODES), default=default_mode)
    parser.add_argument("--systems", default="")
    parser.add_argument("--scenarios", default="", help="comma-separated scenario names or name-users keys")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--append", action="store_true", help="keep the runs already in --out (those this run repeats are replaced)"
    )
    args = parser.parse_args()
    mode = profile.MODES[args.mode]
    systems = [s for s in (args.systems.split(",") if args.systems else mode.systems) if s]
    wanted = {s for s in args.scenarios.split(",") if s}
    install_signal_handlers()
    began = time.monotonic()

    for sub in ("media", "logs", "redis", "runs", "litellm-rooms"):
        shutil.rmtree(VAR / sub, ignore_errors=True)
    (VAR / "logs").mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "mode": mode.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile_summary(),
        "skipped": [],
        "runs": [],
    }
    if args.append and args.out.exists():
        earlier = json.loads(args.out.read_text())
        results["runs"] = earlier.get("runs", [])
        if "roundtrips" in earlier:
            results["roundtrips"] = earlier["roundtrips"]  # replaced if this invocation measures it again
        results["earlier_invocations"] = [
            *earlier.get("earlier_invocations", []),
            {k: earlier.get(k) for k in ("started_at", "duration_s", "commit", "mode", "machine")},
        ]
    try:
        database_url = prepare_database()
        results["database"] = "postgresql" if database_url.startswith("postgres") else "sqlite"
        redis = Redis(VAR)
        redis.start()
        sandbox = Sandbox(VAR)
        sandbox.start()
        env = base_env(database_url, redis.url, sandbox)
        users_file = VAR / "users.json"
        max_users = max(s.users for s in mode.scenarios)
        log(f"mode={mode.name} db={results['database']} redis={redis.url} sandbox={sandbox.url}")
        log(f"creating {max_users} users")
        subprocess.run(
            [sys.executable, "-m", "bench.setup", "--users", str(max_users), "--out", str(users_file)],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=600,
        )
        os.environ.update(env)
        import django

        django.setup()
        from billing.pricing import actual

        unit_price = float(actual("gpt-image-1", "1024x1024", "low", 1, provider="openai"))
        ctx = Context(redis, sandbox, json.loads(users_file.read_text()), unit_price)
        for name in systems:
            system = make_system(name, env, sandbox)
            if system is None:
                results["skipped"].append(
                    {"system": name, "why": "var/bench/litellm-venv is missing (scripts/bench.sh makes it)"}
                )
                log(f"{name}: skipped (no virtualenv)")
                continue
            scenarios = [
                with_slow_lane(s) for s in mode.scenarios_for(name) if not wanted or s.name in wanted or s.key in wanted
            ]
            log(f"{name}: starting")
            system.start()
            try:
                if name == "interiorai" and scenarios:
                    results["roundtrips"] = roundtrips(system, users_file)
                    log(f"  one accept: {brief_roundtrips(results['roundtrips'])}")
                for index, scenario in enumerate(scenarios):
                    if time.monotonic() - began > MAX_TOTAL_S:
                        results["skipped"].append({"system": name, "scenario": scenario.key, "why": "time budget"})
                        continue
                    if index and system.kind != "interiorai":
                        # A synchronous server keeps working through the backlog its clients gave up on: start clean.
                        system.stop()
                        system.start()
                    if mode.warmup and (index == 0 or (mode.rewarm and system.kind != "interiorai")):
                        run_scenario(ctx, system, profile.WARMUP)
                    log(f"{name}: {scenario.key}")
                    run = run_scenario(ctx, system, scenario)
                    results["runs"] = [
                        r
                        for r in results["runs"]
                        if (r.get("system_variant"), r["scenario"], r["users"]) != (name, scenario.name, scenario.users)
                    ]
                    results["runs"].append(run)
                    log("  " + brief(run))
                    write(results, args.out)
            finally:
                system.stop()
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["duration_s"] = round(time.monotonic() - began, 1)
        write(results, args.out)
    finally:
        stop_all()
        if os.environ.get("BENCH_DROP_DB") and "database_url" in locals():
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            drop_database(database_url)
    if not args.no_report:
        from bench import report

        report.render(args.out)
    log(f"done in {time.monotonic() - began:.0f}s; results in {args.out}")


def with_slow_lane(scenario: profile.Scenario) -> profile.Scenario:
    """`BENCH_SLOW_LANE=free=1,paid=0`: every scenario's users take the slow lane with these shares when offered."""
    spec = os.environ.get("BENCH_SLOW_LANE", "")
    if not spec:
        return scenario
    shares = {k.strip(): float(v) for k, _, v in (part.partition("=") for part in spec.split(",")) if v}
    return dataclasses.replace(scenario, slow_lane_free=shares.get("free", 0.0), slow_lane_paid=shares.get("paid", 0.0))


def roundtrips(system: System, users_file: Path) -> dict[str, Any]:
    """What one `POST /api/v1/generations/` costs in SQL queries, Redis round trips and Celery messages."""
    out = VAR / "roundtrips.json"
    out.unlink(missing_ok=True)
    # The probe's jobs are deleted at once; their messages go to a broker database no worker reads.
    broker = urlunparse(urlparse(system.env["REDIS_URL"])._replace(path="/1"))
    env = {**system.env, "CELERY_BROKER_URL": broker, "LOG_LEVEL": "ERROR"}
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.roundtrips", str(users_file), str(out)],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
        )
        return dict(json.loads(out.read_text()))
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return {"error": f"{type(exc).__name__}: {detail.decode(errors='replace')[-500:]}"}


def brief_roundtrips(counts: dict[str, Any]) -> str:
    if "error" in counts:
        return str(counts["error"])
    return (
        f"{counts['sql_queries']} SQL queries, {counts['redis_round_trips']} Redis round trips, "
        f"{counts['celery_publishes']} Celery publish (median of {counts['requests'] - 1} warm requests)"
    )


def brief(run: dict[str, Any]) -> str:
    return (
        f"jobs={run['jobs']} ok={run['succeeded']} failed={run['failed']} lost={run['lost']} dup={run['duplicated']} "
        f"accept p50/p99={run['accept_p50_ms']}/{run['accept_p99_ms']}ms thr={run['throughput_ratio']} "
        f"calls={run['provider_calls']} 429={run['provider_429']} wasted={run['wasted_calls']} "
        f"ws p95={run['ws_p95_ms']} rss={run['peak_rss_mb']}MB errors={run['errors_by_cause']}"
    )


def profile_summary() -> dict[str, Any]:
    return {
        "time_scale": f"1/{int(profile.SCALE)}",
        "provider_window_s": profile.WINDOW_S,
        "provider_rpm": profile.PROVIDER_RPM,
        "provider_ipm": profile.PROVIDER_IPM,
        "provider_limit_per_s": round(profile.limit_per_s(), 3),
        "latency_s": list(profile.LATENCY_S),
        "latency_dist": "triangular",
        "faults": profile.FAULTS,
        "deadline_s": profile.DEADLINE_S,
        "think_s": profile.THINK_S,
        "workers": profile.WORKERS,
        "worker_concurrency": profile.WORKER_CONCURRENCY,
        "interiorai_env": profile.interiorai_env(),
        "seed": profile.SEED,
    }


def write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(out)


if __name__ == "__main__":
    main()
