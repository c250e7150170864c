"""The peer gateway: LiteLLM's Router behind a small asyncio server, run from var/bench/litellm-venv.

This is the honest best of a broker-less design: `POST /generate` answers 202 at once and the Router call runs as
an in-process task, with the deployments' rpm, retries (honouring the provider's retry-after), a fallback model,
cooldowns and a per-deployment concurrency cap equal to InteriorAI's worker slots. Routing is LiteLLM's default
`simple-shuffle`: in LiteLLM 1.106 `usage-based-routing-v2` (the strategy that enforces rpm before calling)
left every image edit past the limit waiting until our deadline, so the provider's own 429s do the limiting.
The client long-polls `GET /jobs/{id}?wait=S` (each poll well inside the load balancer's deadline). There is no
database and no queue: a crash loses every job in the process. `POST /generate?wait=1` is the synchronous,
queue-less variant.

LiteLLM counts rpm in wall-clock minute buckets; the benchmark scales every duration by the same factor, so the
bucket key is patched to the scaled minute (the same `window_s` the sandbox and InteriorAI use).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm
from aiohttp import web
from litellm import Router
from PIL import Image

from generation.styles import STYLE_BY_SLUG, build_prompt


class ScaledMinute:
    """Stands in for `datetime.now(utc)` where LiteLLM only formats it into a per-minute bucket key."""

    def __init__(self, window_s: float) -> None:
        self.bucket = int(time.time() // window_s)

    def strftime(self, _fmt: str) -> str:
        return f"m{self.bucket}"


def scale_litellm_minute(window_s: float) -> None:
    from litellm.router_strategy import lowest_tpm_rpm_v2

    lowest_tpm_rpm_v2.get_utc_datetime = lambda: ScaledMinute(window_s)  # type: ignore[assignment]


def output_size_for(width: int, height: int) -> str:
    ratio = width / height
    return "1536x1024" if ratio >= 1.25 else "1024x1536" if ratio <= 0.8 else "1024x1024"


class Peer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        # Uploads survive a restart (in production they live in object storage); jobs do not.
        self.rooms_dir = Path(args.rooms_dir)
        self.rooms_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        deployment = {
            "api_base": args.api_base,
            "api_key": "sk-bench-litellm",
            "rpm": args.rpm,
            "timeout": args.timeout,
        }
        if args.max_parallel > 0:
            deployment["max_parallel_requests"] = args.max_parallel
        self.router = Router(
            model_list=[
                {"model_name": "image", "litellm_params": {"model": "openai/gpt-image-1", **deployment}},
                {"model_name": "image-fallback", "litellm_params": {"model": "openai/gpt-image-1-mini", **deployment}},
            ],
            routing_strategy=os.environ.get("BENCH_LITELLM_ROUTING", "simple-shuffle"),
            routing_strategy_args={"ttl": max(int(args.window_s * 2), 1)},
            num_retries=args.retries,
            retry_after=0,
            allowed_fails=3,
            cooldown_time=args.cooldown,
            fallbacks=[{"image": ["image-fallback"]}],
            timeout=args.timeout,
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def create_room(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["photo"]
        photo = upload.file.read()  # type: ignore[union-attr]
        width, height = Image.open(io.BytesIO(photo)).size
        room_id = uuid.uuid4().hex
        (self.rooms_dir / f"{room_id}.jpg").write_bytes(photo)
        meta = {"room_type": str(form.get("room_type", "living_room")), "size": output_size_for(width, height)}
        (self.rooms_dir / f"{room_id}.json").write_text(json.dumps(meta))
        return web.json_response({"id": room_id, "width": width, "height": height}, status=201)

    def room(self, room_id: str) -> tuple[bytes, str, str] | None:
        if not room_id.isalnum():
            return None
        photo, meta = self.rooms_dir / f"{room_id}.jpg", self.rooms_dir / f"{room_id}.json"
        if not photo.exists() or not meta.exists():
            return None
        info = json.loads(meta.read_text())
        return photo.read_bytes(), info["room_type"], info["size"]

    async def generate(self, request: web.Request) -> web.Response:
        body = await request.json()
        room = self.room(str(body.get("room")))
        style = str(body.get("style", "modern"))
        if room is None or style not in STYLE_BY_SLUG:
            return web.json_response({"error": {"code": "invalid", "message": "Unknown room or style."}}, status=400)
        job_id = uuid.uuid4().hex
        job: dict[str, Any] = {"id": job_id, "status": "queued", "done": asyncio.Event(), "created": time.time()}
        self.jobs[job_id] = job
        task = asyncio.create_task(self.run(job, room, style, str(body.get("prompt", "")), body.get("quality", "low")))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if request.query.get("wait"):
            await job["done"].wait()
            return self.job_response(job, 200 if job["status"] == "succeeded" else 502)
        return web.json_response({"id": job_id, "status": "queued"}, status=202)

    async def run(
        self, job: dict[str, Any], room: tuple[bytes, str, str], style: str, extra: str, quality: str
    ) -> None:
        photo, room_type, size = room
        job["status"] = "running"
        upload = io.BytesIO(photo)
        upload.name = "room.jpg"  # LiteLLM's transport wants a named file object
        try:
            response = await asyncio.wait_for(
                self.router.aimage_edit(
                    model="image",
                    image=upload,
                    prompt=build_prompt(style, room_type, extra),
                    size=size,
                    quality=quality,
                    n=1,
                    output_format="jpeg",
                    output_compression=92,
                ),
                timeout=self.args.deadline,
            )
            urls = []
            for item in response.data or []:
                data = item.get("b64_json") if isinstance(item, dict) else getattr(item, "b64_json", None)
                if data:
                    name = uuid.uuid4().hex
                    self.files[name] = base64.b64decode(data)
                    urls.append(f"/files/{name}")
            job.update(status="succeeded" if urls else "failed", images=urls)
            if not urls:
                job["error"] = {"code": "empty_response"}
        except TimeoutError:
            job.update(status="failed", error={"code": "deadline"})
        except litellm.RateLimitError:
            job.update(status="failed", error={"code": "rate_limited"})
        except litellm.APIError as exc:
            job.update(status="failed", error={"code": f"provider_{getattr(exc, 'status_code', 'error')}"})
        except Exception as exc:
            job.update(status="failed", error={"code": type(exc).__name__})
            print(f"job {job['id']} failed: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr, flush=True)
        finally:
            job["finished"] = time.time()
            job["done"].set()

    def job_response(self, job: dict[str, Any], status: int = 200) -> web.Response:
        body = {k: v for k, v in job.items() if k in ("id", "status", "images", "error", "finished")}
        return web.json_response(body, status=status)

    async def job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": {"code": "not_found"}}, status=404)
        wait = min(float(request.query.get("wait", "0") or 0), 5.0)
        if wait and not job["done"].is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job["done"].wait(), timeout=wait)
        return self.job_response(job)

    async def file(self, request: web.Request) -> web.Response:
        content = self.files.pop(request.match_info["name"], None)
        if content is None:
            raise web.HTTPNotFound()
        return web.Response(body=content, content_type="image/jpeg")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--rpm", type=int, required=True)
    parser.add_argument("--window-s", type=float, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--cooldown", type=float, default=1.0)
    parser.add_argument("--max-parallel", type=int, default=24)
    parser.add_argument("--rooms-dir", required=True)
    args = parser.parse_args()
    scale_litellm_minute(args.window_s)
    litellm.suppress_debug_info = True
    peer = Peer(args)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.add_routes(
        [
            web.get("/healthz", peer.healthz),
            web.post("/rooms", peer.create_room),
            web.post("/generate", peer.generate),
            web.get("/jobs/{job_id}", peer.job),
            web.get("/files/{name}", peer.file),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, backlog=2048, print=None)


if __name__ == "__main__":
    main()
