"""Simulated users driving one system through its real HTTP API (and WebSocket): `python -m bench.load CONFIG OUT`.

A user opens a session (InteriorAI: its WebSocket, authenticated by the session cookie), uploads a photo of its
own, then submits a redesign after an exponential think time and again after each result, until the scenario's
window closes; it follows progress (WebSocket events, or long-polls for the LiteLLM peer, or the synchronous
answer for the naive design) and fetches each result image. A burst scenario fires one POST per user at once,
after the same burst of `GET /healthz` (the server's floor). Everything is timed on this machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from generation.styles import STYLES
from harness.photos import room_photo

FINAL = ("succeeded", "failed", "cancelled")
SNAPSHOT_AFTER_S = 5.0  # a page that heard nothing for this long about a job it waits for asks for a snapshot
POLL_WAIT_S = 0.8  # LiteLLM peer: each long-poll returns inside the load balancer's deadline


async def read_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON body, or an error shaped like the API's when the server answered something else (an HTML 502)."""
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        data = None
    if not isinstance(data, dict):
        return {"error": {"code": f"http_{response.status}_not_json"}}
    return data


class Job:
    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token
        self.record: dict[str, Any] = {"user": user.info["username"], "tier": user.info["tier"], "token": token}
        self.final = asyncio.get_running_loop().create_future()

    def resolve(self, status: str, source: str, error: Any = None, images: list[str] | None = None) -> None:
        if self.final.done():
            return
        self.record.update(final_status=status, final_source=source, t_final=time.time())
        if error:
            self.record["final_error"] = error.get("code") if isinstance(error, dict) else str(error)
        self.final.set_result(images or [])


class User:
    def __init__(self, load: Load, index: int, info: dict[str, Any]) -> None:
        self.load, self.index, self.info = load, index, info
        self.rng = random.Random(load.seed * 7919 + index)
        self.slow_rng = random.Random(load.seed * 104729 + index)  # its own stream: think times stay as they were
        self.room: str | None = None
        self.jobs: dict[str, Job] = {}  # by the system's job id
        self.early: dict[str, tuple[str, dict[str, Any]]] = {}  # finals that arrived before the POST answered
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ws_task: asyncio.Task[None] | None = None
        self.last_heard = time.monotonic()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.info['token']}"}

    # Session: WebSocket and upload ------------------------------------------------------------------------

    async def open(self) -> None:
        if self.load.system == "interiorai":
            await self.connect_ws()
        self.room = self.load.known_rooms.get(self.info["username"])
        if self.room is None:
            await self.upload()

    async def connect_ws(self, watch: list[str] | None = None) -> None:
        url = self.load.base_url.replace("http://", "ws://") + "/ws/generations/"
        if watch:
            url += "?watch=" + ",".join(watch[:20])
        headers = {"Cookie": f"sessionid={self.info['session']}", "Origin": self.load.base_url}
        try:
            self.ws = await self.load.http.ws_connect(
                url, headers=headers, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=2)
            )
        except Exception as exc:
            self.load.count("ws_connect_failed", type(exc).__name__)
            self.ws = None
            return
        self.ws_task = asyncio.create_task(self.listen(self.ws))

    async def listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            received = time.time()
            self.last_heard = time.monotonic()
            event = json.loads(message.data)
            self.load.ws_messages += 1
            if event.get("type") == "generation.update":
                self.on_state(event["payload"], "ws", received)
            elif event.get("type") == "generation.snapshot":
                for payload in event["payload"].get("generations", []):
                    self.on_state(payload, "snapshot", received)
        if not self.load.closing:
            self.load.count("ws_closed_by_server", str(ws.close_code))

    def on_state(self, payload: dict[str, Any], source: str, received: float) -> None:
        job_id, status = str(payload.get("id")), payload.get("status")
        if status == "running":
            job = self.jobs.get(job_id)
            if job is not None:
                job.record.setdefault("t_running_client", received)
        if status not in FINAL:
            return
        job = self.jobs.get(job_id)
        if job is None:
            self.early.setdefault(job_id, (source, {**payload, "_received": received}))
            return
        if not job.final.done():
            job.resolve(status, source, payload.get("error"), payload.get("images"))
            job.record["t_final"] = received

    async def upload(self) -> None:
        photo = room_photo(self.load.seed + self.index)
        form = aiohttp.FormData()
        form.add_field("photo", photo, filename="room.jpg", content_type="image/jpeg")
        form.add_field("room_type", "living_room")
        form.add_field("name", "Bench room")
        path = "/rooms" if self.load.system == "litellm" else "/api/v1/rooms/"
        for _ in range(5):
            started = time.perf_counter()
            try:
                async with self.load.http.post(
                    self.load.base_url + path, data=form, headers=self.auth, timeout=self.load.upload_timeout
                ) as response:
                    if response.status == 201:
                        self.room = (await response.json())["id"]
                        self.load.upload_ms.append((time.perf_counter() - started) * 1000)
                        return
                    self.load.count("upload_failed", str(response.status))
            except Exception as exc:
                self.load.count("upload_failed", type(exc).__name__)
            await asyncio.sleep(0.5)

    # Jobs --------------------------------------------------------------------------------------------------

    def new_job(self) -> tuple[Job, dict[str, Any]]:
        token = uuid.uuid4().hex
        job = Job(self, token)
        style = STYLES[self.rng.randrange(len(STYLES))].slug
        body = {"room": self.room, "style": style, "prompt": f"bench job {token}", "quality": "low"}
        self.load.jobs.append(job)
        return job, body

    async def submit(self, barrier: asyncio.Event | None = None) -> Job | None:
        if self.room is None:
            return None
        job, body = self.new_job()
        if barrier is not None:
            await barrier.wait()
        submit = getattr(self, f"submit_{self.load.system}")
        await submit(job, body)
        return job

    async def post_generation(self, job: Job, body: dict[str, Any], prefix: str = "") -> tuple[int, dict[str, Any]]:
        """One `POST /api/v1/generations/`, timed into `<prefix>accept_ms`; (0, {}) when it never answered."""
        started = time.perf_counter()
        try:
            async with self.load.post_session.post(
                self.load.base_url + "/api/v1/generations/",
                json=body,
                headers=self.auth,
                timeout=self.load.accept_timeout,
            ) as response:
                data = await read_json(response)
                job.record.update({f"{prefix}accept_ms": (time.perf_counter() - started) * 1000})
                return response.status, data
        except Exception as exc:
            job.record.update({f"{prefix}accept_ms": (time.perf_counter() - started) * 1000})
            job.record[f"{prefix}accept_error"] = type(exc).__name__
            return 0, {}

    def takes_slow_lane(self, error: dict[str, Any]) -> bool:
        """Whether this user, refused at capacity with the slow lane on offer, takes it (the scenario's share)."""
        if error.get("code") != "at_capacity" or not isinstance(error.get("slow_lane"), dict):
            return False
        share = self.load.scenario.get("slow_lane_free" if self.info["tier"] == "free" else "slow_lane_paid") or 0.0
        return self.slow_rng.random() < share

    async def submit_interiorai(self, job: Job, body: dict[str, Any]) -> None:
        job.record["t_submit"] = time.time()
        status, data = await self.post_generation(job, body)
        job.record["accept_status"] = status
        error = data.get("error") or {}
        if status == 503 and isinstance(error.get("slow_lane"), dict):
            job.record["slow_offer_wait_s"] = error["slow_lane"].get("estimated_wait_s")
            if self.takes_slow_lane(error):
                # The same job, asked again into the slow lane: the refusal stays on record as the first answer.
                job.record["first_status"] = status
                status, data = await self.post_generation(job, {**body, "accept_slow": True}, prefix="slow_")
                job.record["accept_status"] = status
                error = data.get("error") or {}
        if status == 0:
            job.resolve("rejected", "accept", job.record.get("slow_accept_error") or job.record.get("accept_error"))
            return
        if status != 202:
            job.resolve("rejected", "accept", error.get("code", str(status)))
            return
        job.record.update(
            t_accepted=time.time(),
            predicted_wait_s=data.get("estimated_wait_s"),
            predicted_position=data.get("position"),
            lane=data.get("lane") or "standard",
        )
        job_id = str(data["id"])
        job.record["id"] = job_id
        self.jobs[job_id] = job
        if job_id in self.early:
            source, payload = self.early.pop(job_id)
            job.resolve(payload["status"], source, payload.get("error"), payload.get("images"))
            job.record["t_final"] = payload["_received"]

    async def submit_naive(self, job: Job, body: dict[str, Any]) -> None:
        job.record["t_submit"] = time.time()
        started = time.perf_counter()
        try:
            async with self.load.post_session.post(
                self.load.base_url + "/naive/generate", json=body, headers=self.auth, timeout=self.load.deadline
            ) as response:
                data = await read_json(response)
                job.record.update(accept_ms=(time.perf_counter() - started) * 1000, accept_status=response.status)
        except TimeoutError:
            job.record.update(accept_ms=(time.perf_counter() - started) * 1000, accept_status=0)
            job.resolve("failed", "http", "deadline")
            return
        except Exception as exc:
            job.record.update(accept_ms=(time.perf_counter() - started) * 1000, accept_status=0)
            job.resolve("failed", "http", type(exc).__name__)
            return
        if response.status == 200:
            job.resolve("succeeded", "http", images=data.get("images"))
        else:
            job.resolve("failed", "http", (data.get("error") or {}).get("code", f"http_{response.status}"))

    async def submit_litellm(self, job: Job, body: dict[str, Any]) -> None:
        job.record["t_submit"] = time.time()
        started = time.perf_counter()
        try:
            async with self.load.post_session.post(
                self.load.base_url + "/generate", json=body, headers=self.auth, timeout=self.load.accept_timeout
            ) as response:
                data = await read_json(response)
                job.record.update(accept_ms=(time.perf_counter() - started) * 1000, accept_status=response.status)
        except Exception as exc:
            job.record.update(
                accept_ms=(time.perf_counter() - started) * 1000, accept_status=0, accept_error=type(exc).__name__
            )
            job.resolve("rejected", "accept", "deadline" if isinstance(exc, TimeoutError) else type(exc).__name__)
            return
        if response.status != 202:
            job.resolve("rejected", "accept", (data.get("error") or {}).get("code", str(response.status)))
            return
        job.record["id"] = data["id"]
        self.jobs[data["id"]] = job
        self.load.pollers.add(poller := asyncio.create_task(self.long_poll(job, data["id"])))
        poller.add_done_callback(self.load.pollers.discard)

    async def long_poll(self, job: Job, job_id: str) -> None:
        url = f"{self.load.base_url}/jobs/{job_id}?wait={POLL_WAIT_S}"
        while not job.final.done() and time.monotonic() < self.load.hard_stop:
            try:
                async with self.load.http.get(url, headers=self.auth, timeout=self.load.deadline) as response:
                    data = await read_json(response)
            except Exception as exc:
                self.load.count("poll_failed", type(exc).__name__)
                await asyncio.sleep(0.2)
                continue
            if response.status == 404:  # the process that held it is gone
                self.load.count("poll_failed", "404")
                await asyncio.sleep(0.5)
                continue
            if data.get("status") in FINAL:
                job.resolve(data["status"], "poll", data.get("error"), data.get("images"))
                job.record["t_server_final"] = data.get("finished")

    async def follow(self, job: Job) -> None:
        """Wait for the job's final state as the page would, then fetch the result image."""
        remaining = self.load.hard_stop - time.monotonic()
        try:
            images = await asyncio.wait_for(asyncio.shield(job.final), timeout=max(remaining, 0.1))
        except TimeoutError:
            return
        if job.record.get("final_status") == "succeeded" and images:
            await self.fetch(job, images[0])

    async def fetch(self, job: Job, url: str) -> None:
        started = time.perf_counter()
        for _ in range(3):
            try:
                async with self.load.http.get(
                    self.load.base_url + url, headers=self.auth, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    content = await response.read()
                    if response.status == 200 and content:
                        job.record.update(
                            fetched=True,
                            fetch_ms=(time.perf_counter() - started) * 1000,
                            t_fetched=time.time(),
                            image_bytes=len(content),
                        )
                        return
                    self.load.count("fetch_failed", str(response.status))
            except Exception as exc:
                self.load.count("fetch_failed", type(exc).__name__)
            await asyncio.sleep(0.2)
        job.record["fetched"] = False

    async def resync(self) -> None:
        """A page that suspects a lost event asks for a snapshot of the jobs it waits for (reconnecting if needed)."""
        waiting = [job_id for job_id, job in self.jobs.items() if not job.final.done()]
        if not waiting or time.monotonic() - self.last_heard < SNAPSHOT_AFTER_S:
            return
        self.last_heard = time.monotonic()
        if self.ws is None or self.ws.closed:
            self.load.count("ws_reconnects", "")
            await self.connect_ws(watch=waiting)
            return
        with contextlib.suppress(Exception):
            await self.ws.send_json({"type": "snapshot", "ids": waiting[:20]})
            self.load.ws_snapshot_requests += 1

    async def steady(self, scenario: dict[str, Any]) -> None:
        end = self.load.start + scenario["window_s"]
        followers = []
        for _ in range(scenario["max_jobs_per_user"]):
            think = self.rng.expovariate(1 / self.load.think_s)
            if time.monotonic() + think >= end:
                break  # the next submission would fall after the window closes
            await asyncio.sleep(think)
            job = await self.submit()
            if job is None:
                break
            follower = asyncio.create_task(self.follow(job))
            followers.append(follower)
            # A user waits for this result before choosing the next style (the naive call already did).
            await asyncio.wait({follower}, timeout=max(self.load.hard_stop - time.monotonic(), 0.1))
        await asyncio.gather(*followers, return_exceptions=True)


class Load:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.system = config["system"]
        self.base_url = config["base_url"].rstrip("/")
        self.scenario = config["scenario"]
        self.seed = int(config["seed"])
        self.think_s = float(self.scenario.get("think_s") or config["think_s"])
        self.deadline = aiohttp.ClientTimeout(total=float(config["deadline_s"]))
        # Accepting is the server's own work, not the provider's: the real 30 s load-balancer deadline applies.
        self.accept_timeout = aiohttp.ClientTimeout(total=30)
        self.known_rooms: dict[str, str] = config.get("rooms", {})
        self.upload_ms: list[float] = []
        self.setup_s = 0.0
        self.upload_timeout = aiohttp.ClientTimeout(total=60)
        self.jobs: list[Job] = []
        self.pollers: set[asyncio.Task[None]] = set()
        self.counters: dict[str, dict[str, int]] = {}
        self.ws_messages = 0
        self.ws_snapshot_requests = 0
        self.closing = False
        self.healthz_ms: list[float] = []
        self.healthz_failed = 0

    def count(self, what: str, detail: str) -> None:
        bucket = self.counters.setdefault(what, {})
        bucket[detail] = bucket.get(detail, 0) + 1

    async def run(self) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        jar = aiohttp.DummyCookieJar()
        users = self.users = [User(self, i, info) for i, info in enumerate(self.config["users"])]
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as self.http:
            self.post_session = self.http
            # Sessions open first (WebSocket, upload of a user's first photo), then the measured part starts.
            self.hard_stop = time.monotonic() + self.config["setup_s"] + self.config["hard_stop_s"]
            setup_started = time.monotonic()
            gate = asyncio.Semaphore(self.config.get("open_concurrency", 50))

            async def open_user(user: User) -> None:
                async with gate:
                    await user.open()

            await asyncio.gather(*(open_user(user) for user in users))
            self.setup_s = time.monotonic() - setup_started
            await asyncio.sleep(0.5)
            self.start = time.monotonic()
            self.t0 = time.time()
            self.hard_stop = self.start + self.config["hard_stop_s"]
            Path(self.config["ready_file"]).write_text(json.dumps({"t0": self.t0}))
            resync = asyncio.create_task(self.resync_loop(users)) if self.system == "interiorai" else None
            if self.scenario["burst"]:
                await self.burst(users)
            else:
                await asyncio.gather(*(user.steady(self.scenario) for user in users))
            self.closing = True
            if resync:
                resync.cancel()
            await self.settle_unknown(users)
            for user in users:
                if user.ws is not None:
                    with contextlib.suppress(Exception):
                        await user.ws.close()
        return self.result()

    async def resync_loop(self, users: list[User]) -> None:
        while True:
            await asyncio.sleep(1.0)
            await asyncio.gather(*(user.resync() for user in users), return_exceptions=True)

    async def burst(self, users: list[User]) -> None:
        size = self.scenario["burst"]
        # The floor: the same number of simultaneous requests to the cheapest endpoint, on fresh connections.
        self.healthz_ms = await self.fire(size, lambda s, barrier: self.healthz(s, barrier))
        await asyncio.sleep(1.0)
        self.burst_t0 = time.time()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True), cookie_jar=aiohttp.DummyCookieJar()
        ) as fresh:
            self.post_session = fresh
            barrier = asyncio.Event()
            submits = [asyncio.create_task(user.submit(barrier)) for user in users[:size]]
            await asyncio.sleep(0.5)  # every coroutine is parked at the barrier
            barrier.set()
            jobs = await asyncio.gather(*submits)
            self.post_session = self.http
        await asyncio.gather(*(job.user.follow(job) for job in jobs if job is not None))

    async def fire(self, size: int, make: Any) -> list[float]:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True), cookie_jar=aiohttp.DummyCookieJar()
        ) as fresh:
            barrier = asyncio.Event()
            tasks = [asyncio.create_task(make(fresh, barrier)) for _ in range(size)]
            await asyncio.sleep(0.5)
            barrier.set()
            results = await asyncio.gather(*tasks)
        return [r for r in results if r is not None]

    async def healthz(self, session: aiohttp.ClientSession, barrier: asyncio.Event) -> float | None:
        await barrier.wait()
        started = time.perf_counter()
        try:
            async with session.get(self.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()
                if response.status == 200:
                    return (time.perf_counter() - started) * 1000
        except Exception as exc:
            self.count("healthz_failed", type(exc).__name__)
        self.healthz_failed += 1
        return None

    async def settle_unknown(self, users: list[User]) -> None:
        """Jobs whose final state the client never learned: ask once, so the report can tell lost from unseen."""
        for user in users:
            for job_id, job in user.jobs.items():
                if job.final.done():
                    continue
                job.record["final_source"] = "never_seen"
                path = f"/api/v1/generations/{job_id}/" if self.system == "interiorai" else f"/jobs/{job_id}"
                with contextlib.suppress(Exception):
                    async with self.http.get(
                        self.base_url + path, headers=user.auth, timeout=aiohttp.ClientTimeout(total=5)
                    ) as response:
                        data = await read_json(response)
                        job.record["status_at_end"] = data.get("status", f"http_{response.status}")

    def result(self) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "burst_t0": getattr(self, "burst_t0", None),
            "jobs": [job.record for job in self.jobs],
            "healthz_ms": self.healthz_ms,
            "upload_ms": self.upload_ms,
            "setup_s": self.setup_s,
            "rooms": {u.info["username"]: u.room for u in self.users if u.room},
            "healthz_failed": self.healthz_failed,
            "counters": self.counters,
            "ws_messages": self.ws_messages,
            "ws_snapshot_requests": self.ws_snapshot_requests,
        }


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(Load(config).run())
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
