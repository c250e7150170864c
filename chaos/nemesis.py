"""The nemeses: each breaks one thing at one moment, writes down what it did and to whom, then heals.

Every nemesis is bounded in time, and every one records an event: its kind, the hosts it hit (names and
addresses), when it began and ended, and whether it exposed the calls in flight on those hosts (a killed, frozen
or cut-off host may hold a paid answer nobody will ever read: the checker allows that many wasted calls, no more).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos import profile
from chaos.cluster import Cluster
from harness.procs import wait_until

MID_CALL_WAIT_S = 20.0


@dataclass
class Event:
    kind: str
    hosts: list[str]
    addrs: list[str]
    start: float
    end: float = 0.0
    exposes: bool = False
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SandboxLog(threading.Thread):
    """Keeps every request record the sandbox makes while a scenario runs (its own log keeps only the last 1000)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True, name="sandbox-log")
        self.cluster = cluster
        self.records: dict[int, dict[str, Any]] = {}
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.poll()

    def poll(self) -> None:
        with contextlib.suppress(Exception):
            fresh = self.cluster.sandbox.requests()
            with self.lock:
                for record in fresh:
                    self.records[record["id"]] = record

    def in_flight(self) -> dict[str, int]:
        """Image calls that have arrived and not been answered yet, by sender address."""
        self.poll()
        out: dict[str, int] = {}
        with self.lock:
            for record in self.records.values():
                if record["endpoint"].startswith("/v1/images") and record["outcome"] == "pending":
                    out[record.get("remote", "")] = out.get(record.get("remote", ""), 0) + 1
        return out

    def all(self) -> list[dict[str, Any]]:
        self.poll()
        with self.lock:
            return sorted(self.records.values(), key=lambda r: r["id"])

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)
        self.poll()


class Nemesis:
    """What a scenario does to the cluster while its load runs."""

    kind = "none"

    def __init__(self, cluster: Cluster, log: SandboxLog, at_s: float = 10.0) -> None:
        self.cluster, self.log, self.at_s = cluster, log, at_s
        self.events: list[Event] = []

    def before(self) -> None:
        """Set up before the load starts."""

    def strike(self) -> None:
        """Break something (called `at_s` seconds into the load)."""

    def after(self) -> None:
        """Undo whatever is left once the load has been submitted and drained."""

    def busy_host(self) -> str:
        """A worker host with an image call in flight right now (the first with most), waiting a bounded while."""
        deadline = time.monotonic() + MID_CALL_WAIT_S
        addrs = {host.addr: host.name for host in self.cluster.worker_hosts if host.name in self.cluster.workers}
        while time.monotonic() < deadline:
            flying = self.log.in_flight()
            if not self.cluster.net.isolated and flying:
                return sorted(self.cluster.workers)[0]  # plain processes share one address: any host is mid-call
            candidates = sorted(((n, addrs[a]) for a, n in flying.items() if a in addrs), reverse=True)
            if candidates:
                return candidates[0][1]
            time.sleep(0.05)
        return sorted(self.cluster.workers)[0]

    def event(self, kind: str, hosts: list[str], exposes: bool, note: str = "") -> Event:
        addrs = [self.cluster.net.host(name).addr for name in hosts]
        event = Event(kind, hosts, addrs, time.time(), exposes=exposes, note=note)
        self.events.append(event)
        return event


class Calm(Nemesis):
    kind = "none"


class KillWorker(Nemesis):
    """SIGKILL one host's worker (its whole process group) mid-call; a new worker starts there 5 s later."""

    kind = "sigkill"

    def strike(self) -> None:
        name = self.busy_host()
        event = self.event(self.kind, [name], exposes=True, note="SIGKILL the worker's process group mid-call")
        self.cluster.workers.pop(name).kill()
        event.end = time.time()
        time.sleep(5)
        self.cluster.start_worker(self.cluster.net.host(name))


class FreezeHost(Nemesis):
    """SIGSTOP a host's worker for three leases, then SIGCONT: a zombie that wakes up holding a finished call."""

    kind = "sigstop"

    def strike(self) -> None:
        name = self.busy_host()
        frozen_s = 3 * profile.LEASE_S
        event = self.event(
            self.kind, [name], exposes=True, note=f"SIGSTOP for {frozen_s} s (lease {profile.LEASE_S} s)"
        )
        proc = self.cluster.workers[name]
        proc.signal_group(signal.SIGSTOP)
        try:
            time.sleep(frozen_s)
        finally:
            proc.signal_group(signal.SIGCONT)
            event.end = time.time()


class CutOff(Nemesis):
    """Drop one host's packets to Redis (or PostgreSQL) mid-call for 10 s, then heal."""

    def __init__(self, cluster: Cluster, log: SandboxLog, service: str, at_s: float = 10.0) -> None:
        super().__init__(cluster, log, at_s)
        self.service = service
        self.kind = f"cut_{service}"

    def target(self) -> tuple[str, int]:
        if self.service == "redis":
            return self.cluster.net.service_addr, self.cluster.redis.port
        if self.service == "postgres":
            return self.cluster.net.service_addr, self.cluster.pg.port
        assert self.cluster.s3 is not None
        return self.cluster.net.service_addr, self.cluster.s3.port

    def hosts(self) -> list[str]:
        return [self.busy_host()]

    def strike(self) -> None:
        names = self.hosts()
        addr, port = self.target()
        event = self.event(self.kind, names, exposes=self.service != "s3", note=f"iptables DROP to {addr}:{port}")
        hosts = [self.cluster.net.host(name) for name in names]
        try:
            for host in hosts:
                host.firewall("-A", port, addr)
            time.sleep(10)
        finally:
            for host in hosts:
                host.firewall("-D", port, addr)
            event.end = time.time()


class S3Down(CutOff):
    """Media on S3 (moto): every worker host cut off from it for 8 s while results are being stored."""

    def __init__(self, cluster: Cluster, log: SandboxLog, at_s: float = 10.0) -> None:
        super().__init__(cluster, log, "s3", at_s)
        self.kind = "s3_down"

    def before(self) -> None:
        self.cluster.use_s3()

    def hosts(self) -> list[str]:
        self.busy_host()  # results are on their way
        return sorted(self.cluster.workers)


class ClockSkew(Nemesis):
    """One worker host's wall clock 3 s ahead, another's 3 s behind, for the whole scenario.

    Through chaos/clockshim.c (LD_PRELOAD), not Debian's faketime: libfaketime hangs Python 3.11's timed waits, or
    with FAKETIME_DONT_FAKE_MONOTONIC=1 makes time.sleep() fail with EINVAL, so a worker under it is broken rather
    than skewed. Redis and PostgreSQL keep the true time: the product must read its clocks there.
    """

    kind = "clock_skew"
    OFFSETS = ("3", "-3")

    def before(self) -> None:
        shim = build_clock_shim(self.cluster.var)
        names = sorted(self.cluster.workers)[:2]
        measured = {}
        for name, offset in zip(names, self.OFFSETS, strict=False):
            env = {"LD_PRELOAD": str(shim), "CHAOS_CLOCK_OFFSET_S": offset}
            self.cluster.restart_worker(name, env=env)
            measured[name] = measure_skew(self.cluster.net.host(name).wrap, env)
        self.cluster.wait_workers(len(self.cluster.workers))
        event = self.event(self.kind, names, exposes=False, note="worker wall clocks +3 s and -3 s (LD_PRELOAD shim)")
        event.detail = {"measured_offset_s": measured}

    def after(self) -> None:
        for event in self.events:
            for name in event.hosts:
                self.cluster.restart_worker(name)
            event.end = time.time()
        self.cluster.wait_workers(len(self.cluster.workers))


def build_clock_shim(var: Path) -> Path:
    """Compile chaos/clockshim.c into var/ (once)."""
    out = var / "clockshim.so"
    if not out.exists():
        if shutil.which("gcc") is None:
            raise RuntimeError("gcc is missing (apt-get install gcc): the clock-skew shim cannot be built")
        source = Path(__file__).with_name("clockshim.c")
        argv = ["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(source), "-ldl"]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return out


def measure_skew(wrap: Callable[[list[str]], list[str]], env: dict[str, str]) -> float:
    """The wall clock a process on that host reads, minus the harness's, in seconds."""
    probe = [sys.executable, "-c", "import time; print(time.time())"]
    before = time.time()
    done = subprocess.run(wrap(probe), env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    after = time.time()
    return round(float(done.stdout.strip()) - (before + after) / 2, 2)


class TwoBeats(Nemesis):
    """A second beat on a host of its own for the whole scenario."""

    kind = "two_beats"

    def before(self) -> None:
        self.cluster.start_beat("beat2")
        self.event(self.kind, ["beat", "beat2"], exposes=False, note="two celery beats at once")

    def after(self) -> None:
        proc = self.cluster.beats.pop("beat2", None)
        if proc:
            proc.stop(timeout=5)
        for event in self.events:
            event.end = time.time()


class KillLeader(Nemesis):
    """SIGKILL the host whose worker leads the dispatcher (from its lease in Redis); it starts again 5 s later."""

    kind = "leader_kill"

    def strike(self) -> None:
        client = self.cluster.redis.client()
        holder = ""
        name = None

        def found() -> bool:
            nonlocal holder, name
            holder = leader_of(client)
            parts = holder.split("/")
            name = self.cluster.host_of_pid(int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None
            return name is not None

        wait_until(found, 20, "the dispatcher's leader")
        assert name is not None
        event = self.event(self.kind, [name], exposes=True, note=f"leader {holder}")
        self.cluster.workers.pop(name).kill()
        event.end = time.time()
        new_leader = ""
        with contextlib.suppress(RuntimeError):

            def taken_over() -> bool:
                nonlocal new_leader
                new_leader = leader_of(client)
                return bool(new_leader) and new_leader != holder

            wait_until(taken_over, 15, "a new leader")
        event.detail = {"old_leader": holder, "new_leader": new_leader, "takeover_s": round(time.time() - event.end, 2)}
        time.sleep(max(0.0, 5 - (time.time() - event.end)))
        self.cluster.start_worker(self.cluster.net.host(name))


def leader_of(client: Any) -> str:
    """The dispatcher's leader as its lease in Redis names it: "hostname/pid/nonce" (see dispatcher.py)."""
    value = client.get("gen:dispatcher:leader")
    return value.decode() if isinstance(value, bytes) else str(value or "")


class RedisRestart(Nemesis):
    """Restart Redis empty while 300 jobs are parked in the waiting room."""

    kind = "redis_restart"

    def parked(self) -> int:
        client = self.cluster.redis.client()
        total = 0
        with contextlib.suppress(Exception):
            for key in client.scan_iter(match="gen:parked:*"):
                if key.decode().count(":") == 2 and client.type(key) == b"zset":
                    total += int(client.zcard(key))
        return total

    def queued(self) -> int:
        client = self.cluster.redis.client()
        with contextlib.suppress(Exception):
            return sum(int(client.llen(queue)) for queue in ("gen.priority", "gen.standard", "default"))
        return 0

    def strike(self) -> None:
        # Every job accepted: wait (bounded) until the workers have moved them from the queues to the waiting room.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (self.queued() > 0 or self.parked() < 250):
            time.sleep(0.25)
        parked, queued, unacked, waiting = self.parked(), self.queued(), self.unacked(), self.unfinished()
        note = (
            f"{parked} jobs parked in the waiting room, {queued} messages queued and {unacked} taken by workers "
            f"(delayed retries among them) when Redis restarted empty; {sum(waiting.values())} jobs unfinished"
        )
        event = self.event(self.kind, [], exposes=False, note=note)
        self.cluster.redis.restart_empty()
        event.end = time.time()
        event.detail = {"parked": parked, "queued": queued, "unacked": unacked, "unfinished_by_stage": waiting}

    def unacked(self) -> int:
        with contextlib.suppress(Exception):
            return int(self.cluster.redis.client().hlen("unacked"))  # kombu's Redis transport keeps them there
        return 0

    def unfinished(self) -> dict[str, int]:
        """Jobs not yet final, by status and stage, from the database."""
        import psycopg

        try:
            with psycopg.connect(self.cluster.pg.url, connect_timeout=5) as db:
                rows = db.execute(
                    "SELECT status || '/' || stage, count(*) FROM generation_generation"
                    " WHERE status NOT IN ('succeeded', 'failed', 'cancelled') GROUP BY 1"
                ).fetchall()
        except psycopg.Error:
            return {}
        return {str(key): int(count) for key, count in rows}


class ProviderOutage(Nemesis):
    """Every provider request answered 503 for 6 s (three minutes at the 1/30 time scale)."""

    kind = "provider_outage"

    def strike(self) -> None:
        event = self.event(self.kind, [], exposes=False, note="sandbox outage=true for 6 s (3 min scaled)")
        self.cluster.sandbox.configure(outage=True)
        try:
            time.sleep(6)
        finally:
            self.cluster.sandbox.configure(outage=False)
            event.end = time.time()
