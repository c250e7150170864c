"""The cluster a chaos run breaks: private PostgreSQL, Redis, sandbox (and S3) on the bridge; web, worker hosts, beats.

Each role runs by its command line from harness/roles.py, wrapped in `ip netns exec <host>` when hosts are isolated,
in a process group of its own (harness.procs), so a nemesis can kill, stop or cut one host and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import redis

from chaos import profile
from chaos.net import SUBNET, Host, Network
from harness import roles
from harness.procs import ROOT, Proc, free_port, wait_until

DB_NAME = "interiorai"


def postgres_bin() -> Path | None:
    """The directory of PostgreSQL's server programs (Debian keeps them off PATH), newest version first."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _json_call(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    import json

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the harness's own addresses only
        url, data=data, method="POST" if body is not None else "GET", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


class Postgres:
    """A PostgreSQL cluster of its own under var/, listening on the bridge (as the postgres user when run as root)."""

    def __init__(self, var: Path, addr: str) -> None:
        self.dir, self.addr, self.port = var / "pg", addr, free_port()
        self.log = var / "logs" / "postgres.log"
        self.proc: Proc | None = None
        self.url = f"postgres://postgres@{addr}:{self.port}/{DB_NAME}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> None:
        pg_bin = postgres_bin()
        if pg_bin is None:
            raise SystemExit("PostgreSQL's server is not installed (apt-get install postgresql)")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        initdb = [str(pg_bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        subprocess.run(self._as_owner(initdb), check=True, capture_output=True, timeout=120)
        argv = [
            str(pg_bin / "postgres"),
            "-D",
            str(self.dir),
            "-h",
            self.addr,
            "-p",
            str(self.port),
            "-k",
            str(self.dir),
            "-c",
            "max_connections=300",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with (self.dir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\nhost all all 127.0.0.1/32 trust\n")
        self.proc = Proc("postgres", self._as_owner(argv), dict(os.environ), self.log).start()
        wait_until(self.answers, 30, "postgres", self.proc)
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{DB_NAME}"')

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@{self.addr}:{self.port}/postgres"

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_url, connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=10)


class RedisServer:
    """A redis-server on the bridge that keeps nothing: restarting it loses every key, as a crash would."""

    def __init__(self, var: Path, addr: str) -> None:
        self.dir, self.addr, self.port = var / "redis", addr, free_port()
        self.log = var / "logs" / "redis.log"
        self.url = f"redis://{addr}:{self.port}/0"
        self.proc: Proc | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [
            *roles.redis_server(self.port, self.dir, shutil.which("redis-server") or "redis-server", host=self.addr),
            "--protected-mode",
            "no",
            "--maxclients",
            "10000",
        ]
        self.proc = Proc("redis", argv, dict(os.environ), self.log).start()
        wait_until(self.answers, 10, "redis", self.proc)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def restart_empty(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.start()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class Sandbox:
    """The provider, on the bridge: every host's calls arrive from that host's own address."""

    def __init__(self, var: Path, addr: str) -> None:
        self.port = free_port()
        self.url = f"http://{addr}:{self.port}"
        self.log = var / "logs" / "sandbox.log"
        self.addr = addr
        self.proc: Proc | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = roles.sandbox(self.port, host=self.addr)
        if os.geteuid() == 0:
            # The provider is not on the cluster's machines: ahead of them for the CPU, its handler stamps each
            # request when it lands, as a real gateway does, instead of when two starved cores get round to it.
            argv = ["nice", "-n", "-10", *argv]
        self.proc = Proc("sandbox", argv, env, self.log).start()
        wait_until(self.healthy, 30, "sandbox", self.proc)

    def healthy(self) -> bool:
        try:
            return _json_call(self.url + "/_sandbox/healthz", timeout=1).get("status") == "ok"
        except Exception:
            return False

    def configure(self, **changes: Any) -> Any:
        return _json_call(self.url + "/_sandbox/config", changes)

    def reset(self) -> None:
        _json_call(self.url + "/_sandbox/reset", {})

    def requests(self) -> list[dict[str, Any]]:
        return list(_json_call(self.url + "/_sandbox/requests?limit=1000"))

    def stats(self) -> Any:
        return _json_call(self.url + "/_sandbox/stats")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class S3Server:
    """moto's S3-compatible server on the bridge, with the media bucket."""

    BUCKET = "chaos-media"

    def __init__(self, var: Path, addr: str) -> None:
        self.port, self.addr = free_port(), addr
        self.url = f"http://{addr}:{self.port}"
        self.log = var / "logs" / "s3.log"
        self.proc: Proc | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", self.addr, "-p", str(self.port)]
        self.proc = Proc("s3", argv, dict(os.environ), self.log).start()
        wait_until(self.answers, 30, "s3", self.proc)
        self.client().create_bucket(Bucket=self.BUCKET)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",  # noqa: S106 - moto accepts any key
            region_name="us-east-1",
        )

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/", timeout=1):  # noqa: S310
                return True
        except Exception as exc:
            return getattr(exc, "code", None) is not None

    def env(self) -> dict[str, str]:
        return {
            "AWS_STORAGE_BUCKET_NAME": self.BUCKET,
            "AWS_S3_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos",
            "AWS_S3_REGION_NAME": "us-east-1",
        }

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class Cluster:
    """Web, worker hosts and beat over the private services; the state every nemesis and the checker need."""

    def __init__(self, var: Path, network: Network, hosts: int) -> None:
        self.var, self.net = var, network
        addr = network.service_addr
        self.pg, self.redis, self.sandbox = Postgres(var, addr), RedisServer(var, addr), Sandbox(var, addr)
        self.s3: S3Server | None = None
        self.web_host = network.host("web")
        self.web_port = 8000 if network.isolated else free_port()
        self.web_url = f"http://{self.web_host.addr}:{self.web_port}"
        self.web: Proc | None = None
        self.workers: dict[str, Proc] = {}
        self.worker_hosts = [network.host(f"h{i}") for i in range(1, hosts + 1)]
        self.beats: dict[str, Proc] = {}
        self.serial = 0
        self.nodes: dict[str, str] = {}  # host -> the node name of its current worker (gen:worker:<node>...)
        self.extra_env: dict[str, str] = {}

    # Start and stop -------------------------------------------------------------------------------------------

    def start_services(self) -> None:
        (self.var / "logs").mkdir(parents=True, exist_ok=True)
        self.pg.start()
        self.redis.start()
        self.sandbox.start()
        self.sandbox.configure(**profile.sandbox_config())

    def env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "AWS_", "REPLICATE_", "DJANGO_", "CELERY_"))
            and k not in ("TESTING", "TEST_RUNNER_PID", "DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "VAR_DIR")
        }
        return {
            **inherited,
            **profile.product_env(),
            "DJANGO_SETTINGS_MODULE": "interiorai.settings",
            "DEBUG": "0",
            "TESTING": "0",
            "SECRET_KEY": "chaos-only-" + "x" * 40,
            "ALLOWED_HOSTS": "*",
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "CHANNELS_PREFIX": "chaos-asgi",
            "VAR_DIR": str(self.var),
            "MEDIA_ROOT": str(self.var / "media"),  # one directory every host shares (the multi-host layout)
            "OPENAI_BASE_URL": self.sandbox.url + "/v1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }

    def setup_database(self, users: list[str]) -> dict[str, str]:
        """Migrate, seed, and make the run's users; returns each username's API token."""
        import json

        out = self.var / "users.json"
        argv = [sys.executable, "-m", "chaos.setup", "--out", str(out), *users]
        subprocess.run(argv, cwd=ROOT, env=self.env(), check=True, timeout=300)
        return dict(json.loads(out.read_text()))

    def start_web(self) -> None:
        argv = self.web_host.wrap(roles.web(self.web_port, host=self.web_host.addr))
        self.web = Proc("web", argv, self.env(), self.var / "logs" / "web.log").start()
        wait_until(self.web_answers, 90, "web", self.web)

    def web_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.web_url + "/healthz", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except Exception:
            return False

    def start_worker(self, host: Host, wrapper: list[str] | None = None, env: dict[str, str] | None = None) -> Proc:
        """A generation worker on `host` under the supervisor `make run` uses; `wrapper` (faketime) goes first."""
        self.serial += 1
        self.nodes[host.name] = f"{host.name}-{self.serial}@"
        argv = roles.supervised(roles.worker(self.nodes[host.name] + "%h", 8, log_level="WARNING"))
        proc = Proc(
            f"worker-{host.name}",
            host.wrap([*(wrapper or []), *argv]),
            {**self.env(), **(env or {})},
            self.var / "logs" / f"worker-{host.name}.log",
        ).start()
        self.workers[host.name] = proc
        return proc

    def start_beat(self, name: str = "beat") -> Proc:
        host = self.net.host(name)
        argv = roles.supervised(roles.beat(self.var / f"celerybeat-{name}", log_level="WARNING"))
        proc = Proc(name, host.wrap(argv), self.env(), self.var / "logs" / f"{name}.log").start()
        self.beats[name] = proc
        return proc

    def live_workers(self) -> int:
        """Workers that advertise their slots in Redis (each does within seconds of starting)."""
        try:
            return len(list(self.redis.client().scan_iter(match="gen:worker:*")))
        except redis.RedisError:
            return 0

    def set_hosts(self, count: int) -> None:
        """Run workers on exactly the first `count` hosts (making hosts as needed); wait until they advertise."""
        while len(self.worker_hosts) < count:
            self.worker_hosts.append(self.net.host(f"h{len(self.worker_hosts) + 1}"))
        wanted = [host.name for host in self.worker_hosts[:count]]
        for name in list(self.workers):
            if name not in wanted or not self.workers[name].alive():
                self.workers.pop(name).kill()
        for host in self.worker_hosts[:count]:
            if host.name not in self.workers:
                self.start_worker(host)
        self.wait_workers(count)

    def wait_workers(self, count: int, timeout: float = 90) -> None:
        # An advertisement lasts a few seconds after its worker is gone: wait for each host's own key.
        def ready() -> bool:
            try:
                keys = [k.decode() for k in self.redis.client().scan_iter(match="gen:worker:*")]
            except redis.RedisError:
                return False
            names = {host for host in self.workers if any(f":{self.nodes[host]}" in key for key in keys)}
            return len(names) >= count

        wait_until(ready, timeout, f"{count} workers")

    def restart_worker(self, name: str, wrapper: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        host = self.net.host(name)
        old = self.workers.pop(name, None)
        if old:
            old.stop(timeout=5)
        self.start_worker(host, wrapper, env)

    def host_of_pid(self, pid: int) -> str | None:
        """Which worker host runs process `pid`."""
        for name, proc in self.workers.items():
            if any(p.pid == pid for p in proc.tree()):
                return name
        return None

    def use_s3(self) -> None:
        """Move media to S3 (moto on the bridge): every web and worker process starts again with the bucket."""
        if self.s3 is None:
            self.s3 = S3Server(self.var, self.net.service_addr)
            self.s3.start()
        self.extra_env = self.s3.env()
        self.restart_all()

    def restart_all(self) -> None:
        count = len(self.workers)
        if self.web:
            self.web.stop()
        for name in list(self.workers):
            self.workers.pop(name).stop(timeout=5)
        for name in list(self.beats):
            self.beats.pop(name).stop(timeout=5)
        self.start_web()
        self.start_beat()
        self.set_hosts(count)

    def stop(self) -> None:
        for proc in [*self.workers.values(), *self.beats.values(), *([self.web] if self.web else [])]:
            with contextlib.suppress(Exception):
                proc.stop(timeout=5)
        for service in (self.s3, self.sandbox, self.redis, self.pg):
            if service is not None:
                with contextlib.suppress(Exception):
                    service.stop()
