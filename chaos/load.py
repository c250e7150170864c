"""Users of a scenario: each uploads a room, then jobs go in through the public API at a given pace.

Every job's prompt ends with its own token, which the provider sees too: the checker pairs each upstream call
with the job that made it from the sandbox's log alone.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from generation.styles import STYLES
from harness.photos import room_photo

SUBMIT_ATTEMPTS = 4


@dataclass
class Submitted:
    token: str
    user: str
    t_submit: float
    status: int = 0
    id: str | None = None
    error: str = ""


@dataclass
class Load:
    """Submits a scenario's jobs; keeps what the API answered for each."""

    base_url: str
    tokens: dict[str, str]  # username -> API token
    tag: str
    rooms: dict[str, str] = field(default_factory=dict)
    jobs: list[Submitted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(15.0, connect=5.0), trust_env=False)

    def upload_rooms(self) -> None:
        with self.client() as http:
            for index, (user, key) in enumerate(sorted(self.tokens.items())):
                for _ in range(5):
                    response = http.post(
                        "/api/v1/rooms/",
                        headers={"Authorization": f"Token {key}"},
                        data={"name": f"{self.tag} room", "room_type": "living_room"},
                        files={
                            "photo": ("room.jpg", room_photo(hash((self.tag, index)) % 10**6, side=512), "image/jpeg")
                        },
                    )
                    if response.status_code == 201:
                        self.rooms[user] = str(response.json()["id"])
                        break
                    time.sleep(0.5)
                else:
                    raise RuntimeError(f"cannot upload a room for {user}: {response.status_code} {response.text[:200]}")

    def submit_one(self, http: httpx.Client, user: str, index: int) -> Submitted:
        token = uuid.uuid4().hex
        job = Submitted(token, user, time.time())
        body = {
            "room": self.rooms[user],
            "style": STYLES[index % len(STYLES)].slug,
            "prompt": f"chaos {self.tag} {token}",
            "quality": "low",
        }
        headers = {"Authorization": f"Token {self.tokens[user]}", "Idempotency-Key": token}
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                response = http.post("/api/v1/generations/", json=body, headers=headers)
            except httpx.HTTPError as exc:
                job.error = type(exc).__name__
                time.sleep(0.5 * (attempt + 1))
                continue
            job.status = response.status_code
            if response.status_code == 202:
                job.id, job.error = str(response.json()["id"]), ""
                break
            job.error = response.text[:200]
            if response.status_code < 500:
                break
            time.sleep(0.5 * (attempt + 1))
        with self.lock:
            self.jobs.append(job)
        return job

    def run(self, jobs: int, rate: float, threads: int = 6, stop: threading.Event | None = None) -> None:
        """Submit `jobs` jobs at `rate` per second (0: as fast as the threads go), users taking turns."""
        users = sorted(self.rooms)
        started = time.monotonic()
        local = threading.local()

        def one(index: int) -> None:
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if stop is not None and stop.is_set():
                return
            if not hasattr(local, "http"):
                local.http = self.client()
            self.submit_one(local.http, users[index % len(users)], index)

        with ThreadPoolExecutor(threads, thread_name_prefix="chaos-load") as pool:
            list(pool.map(one, range(jobs)))

    def accepted(self) -> list[Submitted]:
        return [job for job in self.jobs if job.id]

    def summary(self) -> dict[str, Any]:
        refused: dict[str, int] = {}
        for job in self.jobs:
            if not job.id:
                key = f"{job.status} {job.error[:60]}"
                refused[key] = refused.get(key, 0) + 1
        return {"submitted": len(self.jobs), "accepted": len(self.accepted()), "refused": refused}
