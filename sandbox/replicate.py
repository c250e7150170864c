"""Replicate's HTTP API, as the official `replicate` client speaks it: predictions of FLUX Kontext image-editing models.

`POST /v1/models/{owner}/{name}/predictions` creates a prediction (201) that finishes later; with `Prefer: wait` (or
`wait=N`, at most 60 s) the answer waits until it has finished or the time is up. `GET /v1/predictions/{id}` reads
it, `POST /v1/predictions/{id}/cancel` cancels it, and a finished one's `output` is the URL of its image, served by
the sandbox. Errors are RFC 7807 problem documents like Replicate's (`title`, `detail`, `status`).

The same config keys as the OpenAI side apply, per provider (`providers.replicate`, `outage_providers`): an outage
or an injected 503 refuses the creation, a 429 (injected or over `rpm`/`ipm`) throttles it, a drop creates the
prediction but loses the answer (the client cannot know its id), a 500 makes the prediction fail late, a timeout
keeps it processing for `hang_s`, and spoiled answers (`rate_blank`, `rate_corrupt`) succeed with a bad image.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import json
import logging
import time
from typing import Any

from aiohttp import web
from PIL import Image

from . import imaging
from .config import SandboxConfig
from .faults import Fault, draw_fault, draw_latency
from .imaging import ImageDecodeError, decode_image
from .limits import retry_after_headers
from .predictions import Prediction, new_id, timestamp
from .state import STATE, SandboxState, spoil
from .stats import RequestRecord

logger = logging.getLogger("sandbox")
PROVIDER = "replicate"
CREATE_ENDPOINT = "/v1/models/{owner}/{name}/predictions"
MAX_WAIT_S = 60
STARTING_S = 0.05  # how long a prediction says `starting` before `processing` (a warm model)
MODELS = {
    "black-forest-labs/flux-kontext-pro": "sandbox-kontext-pro",
    "black-forest-labs/flux-kontext-max": "sandbox-kontext-max",
    "black-forest-labs/flux-kontext-dev": "sandbox-kontext-dev",
}
# FLUX Kontext renders about one megapixel in the aspect ratio asked for (these are its output sizes).
ASPECT_SIZES = {
    "1:1": (1024, 1024),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "4:3": (1184, 880),
    "3:4": (880, 1184),
    "16:9": (1392, 752),
    "9:16": (752, 1392),
    "21:9": (1568, 672),
    "9:21": (672, 1568),
}
ASPECT_RATIOS = ("match_input_image", *ASPECT_SIZES)
OUTPUT_FORMATS = {"jpg": "jpeg", "png": "png"}
INPUT_KEYS = {"prompt", "input_image", "aspect_ratio", "output_format", "safety_tolerance", "seed", "prompt_upsampling"}
MAX_INPUT_BYTES = 20 * 1024 * 1024
FLAGGED = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
FAILED = "Prediction failed: the model's worker crashed (injected by the sandbox). (E001)"


class Problem(Exception):
    """An RFC 7807 answer, as Replicate sends its errors."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers, self.extra = status, title, detail, headers or {}, extra

    def response(self) -> web.Response:
        body = {"title": self.title, "detail": self.detail, "status": self.status, **self.extra}
        return web.json_response(
            body, status=self.status, headers=self.headers, content_type="application/problem+json"
        )


def unauthenticated() -> Problem:
    return Problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def unavailable() -> Problem:
    return Problem(503, "Service Unavailable", "Replicate is temporarily unavailable (sandbox outage).")


def not_found() -> Problem:
    return Problem(404, "Not found", "The requested resource could not be found.")


def throttled(retry_after_s: float) -> Problem:
    seconds = max(1, round(retry_after_s))
    detail = f"Request was throttled. Expected available in {seconds} second{'s' if seconds != 1 else ''}."
    return Problem(429, "Request was throttled", detail, retry_after_headers(retry_after_s))


def invalid(field: str, description: str) -> Problem:
    return Problem(
        422,
        "Input validation failed",
        f"- {field}: {description}\n",
        invalid_fields=[{"type": "invalid", "field": field, "description": description}],
    )


def check_auth(request: web.Request) -> None:
    """Replicate takes `Bearer` (and the older `Token`) schemes; any non-blank token but `r8_invalid` passes."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() in ("bearer", "token") else ""
    if not token or token == "r8_invalid":  # noqa: S105 - the one token the sandbox refuses, to test a 401
        raise unauthenticated()


def wait_seconds(prefer: str) -> float | None:
    """`Prefer: wait` → 60 s, `wait=N` → N (1-60), anything else → no waiting."""
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return float(min(max(int(value), 1), MAX_WAIT_S)) if value else float(MAX_WAIT_S)
            except ValueError:
                return None
    return None


def decode_data_uri(value: object) -> bytes:
    """The bytes of a `data:image/...;base64,...` input (the sandbox fetches nothing from the internet)."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        raise invalid("input.input_image", "must be a data URI (data:image/jpeg;base64,...) in the sandbox")
    try:
        data = base64.b64decode(value.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("input.input_image", "is not valid base64") from None
    if len(data) > MAX_INPUT_BYTES:
        raise invalid("input.input_image", f"is larger than {MAX_INPUT_BYTES // 2**20} MB")
    return data


def check_input(body: object) -> tuple[dict[str, Any], bytes | None]:
    """Validate a FLUX Kontext prediction's `input` against the model's schema; return it and the photo's bytes."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        raise invalid("input", "input is required and must be an object")
    values = body["input"]
    unknown = sorted(set(values) - INPUT_KEYS)
    if unknown:
        raise invalid(f"input.{unknown[0]}", "Additional property is not allowed")
    if not isinstance(values.get("prompt"), str) or not values["prompt"].strip():
        raise invalid("input.prompt", "prompt is required")
    if values.get("aspect_ratio", "match_input_image") not in ASPECT_RATIOS:
        raise invalid("input.aspect_ratio", f"aspect_ratio must be one of the following: {', '.join(ASPECT_RATIOS)}")
    if values.get("output_format", "jpg") not in OUTPUT_FORMATS:
        raise invalid("input.output_format", 'output_format must be one of the following: "jpg", "png"')
    tolerance = values.get("safety_tolerance", 2)
    most = 2 if "input_image" in values else 6
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 0 <= tolerance <= most:
        raise invalid("input.safety_tolerance", f"Must be an integer between 0 and {most}")
    seed = values.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid("input.seed", "Must be an integer")
    photo = decode_data_uri(values["input_image"]) if "input_image" in values else None
    return values, photo


def echoed(values: dict[str, Any]) -> dict[str, Any]:
    """The input as the prediction shows it: a long data URI shortened, like a summary, never the whole photo."""
    shown = dict(values)
    if isinstance(shown.get("input_image"), str) and len(shown["input_image"]) > 80:
        shown["input_image"] = shown["input_image"][:40] + f"...({len(values['input_image'])} chars)"
    return shown


def output_size(aspect_ratio: str, photo: Image.Image | None) -> tuple[int, int]:
    if aspect_ratio in ASPECT_SIZES:
        return ASPECT_SIZES[aspect_ratio]
    if photo is None:
        return ASPECT_SIZES["1:1"]
    ratio = photo.size[0] / photo.size[1]
    return min(ASPECT_SIZES.values(), key=lambda size: abs(size[0] / size[1] - ratio))


def render(state: SandboxState, config: SandboxConfig, photo: bytes | None, values: dict[str, Any]) -> list[bytes]:
    """The prediction's one image, rendered like the OpenAI side's edits (deterministic for the same inputs)."""
    image = decode_image(photo) if photo is not None else None
    width, height = output_size(values.get("aspect_ratio", "match_input_image"), image)
    spec = imaging.RenderSpec(
        width=width,
        height=height,
        prompt=values["prompt"],
        quality="medium",
        seed=int(values.get("seed") or config.seed),
        index=0,
        output_format=OUTPUT_FORMATS[values.get("output_format", "jpg")],
        compression=92,
    )
    key = f"replicate:{hashlib.sha256(photo or b'').hexdigest()}:{spec!r}:{config.render_scale}"
    cached = state.renders.get(key)
    if cached is None:
        cached = imaging.render(image, None, spec, config.render_scale)
        state.renders.put(key, cached)
    return [cached]


async def run_prediction(
    state: SandboxState,
    prediction: Prediction,
    values: dict[str, Any],
    photo: bytes | None,
    fault: Fault,
    latency: float,
) -> None:
    """Move the prediction through its lifecycle in the background; a cancel ends it wherever it is."""
    config = state.config.for_provider(PROVIDER)
    counters = state.stats.by_provider[PROVIDER]
    began = time.monotonic()
    try:
        await asyncio.sleep(min(STARTING_S, latency))
        prediction.status, prediction.started_at = "processing", timestamp()
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(config.hang_s)  # stuck on a worker; the client's own deadline decides
        if "FORBIDDEN" in values["prompt"]:
            await asyncio.sleep(max(latency - STARTING_S, 0))
            counters.predictions["failed"] += 1
            prediction.finish("failed", error=FLAGGED)
            return
        work = asyncio.ensure_future(state.run(render, state, config, photo, values))
        await asyncio.sleep(max(latency - STARTING_S, 0))
        if fault is Fault.SERVER_ERROR:
            work.cancel()
            counters.predictions["failed"] += 1
            ran = round(time.monotonic() - began, 3)
            prediction.metrics = {"predict_time": ran, "total_time": ran}
            prediction.finish("failed", error=FAILED)
            return
        images = await work
        size = Image.open(io.BytesIO(images[0])).size
        images = spoil(state, images, OUTPUT_FORMATS[values.get("output_format", "jpg")], 92, size, PROVIDER)
        name = f"{prediction.id}/output.{values.get('output_format', 'jpg')}"
        state.files.put(f"replicate/{name}", images[0])
        state.stats.images(len(images), PROVIDER)
        predict_time = round(time.monotonic() - began, 3)
        prediction.metrics = {"image_count": len(images), "predict_time": predict_time, "total_time": predict_time}
        counters.predictions["succeeded"] += 1
        prediction.finish("succeeded", output=f"{prediction.origin}/_sandbox/delivery/{name}")
    except asyncio.CancelledError:
        if not prediction.is_final:
            ran = round(time.monotonic() - began, 3)
            prediction.metrics = {"predict_time": ran, "total_time": ran}
            counters.predictions["canceled"] += 1
            prediction.finish("canceled")
        raise
    except ImageDecodeError:
        counters.predictions["failed"] += 1
        prediction.finish("failed", error="cannot identify image file (E006)")


# --- the endpoints ------------------------------------------------------------------------------


async def read_json(request: web.Request) -> object:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError:
        raise Problem(400, "Bad Request", "The request body is not valid JSON.") from None


async def handle_create(request: web.Request) -> web.StreamResponse:
    """`POST /v1/models/{owner}/{name}/predictions`: count it as an image call, then create (and maybe wait)."""
    state = request.app[STATE]
    state.stats.arrive(request.path, PROVIDER)
    headers = {key: request.headers[key] for key in ("User-Agent", "Prefer") if key in request.headers}
    record = state.log.start(request.path, request.method, request.content_type, headers, PROVIDER, request.remote)
    try:
        try:
            response = await create(request, state, record)
            record.outcome = "ok"
        except Problem as problem:
            response = problem.response()
            record.outcome = "error"
        except DropAnswer:
            state.stats.dropped(PROVIDER)
            record.outcome = "dropped"
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        record.status = response.status
        state.stats.answered(response.status, PROVIDER)
        return response
    except asyncio.CancelledError:
        record.outcome = "cancelled"
        raise
    finally:
        record.duration_s = round(time.monotonic() - record.started, 4)
        state.stats.leave()
        logger.info(
            "POST %s %s %.2fs %s", request.path, record.status or record.outcome, record.duration_s, record.note
        )


class DropAnswer(Exception):
    """The prediction was created, but its answer never reaches the client."""


async def create(request: web.Request, state: SandboxState, record: RequestRecord) -> web.Response:
    config = state.config.for_provider(PROVIDER)
    body = await read_json(request)
    if isinstance(body, dict):
        record.fields = {**body, "input": echoed(body["input"])} if isinstance(body.get("input"), dict) else body
    if config.outage:
        raise unavailable()
    check_auth(request)
    model = f"{request.match_info['owner']}/{request.match_info['name']}"
    if model not in MODELS:
        raise not_found()
    values, photo = check_input(body)
    decision = state.limiters[PROVIDER].acquire(config.rpm, config.ipm, 1, config.window_s, arrived=record.started)
    if not decision.allowed:
        raise throttled(decision.retry_after_s)
    rng = state.rngs[PROVIDER]
    fault, latency = draw_fault(rng, config), draw_latency(rng, config)
    record.note = f"model={model} fault={fault.value}"
    if fault is not Fault.NONE:
        state.stats.fault(fault.value, PROVIDER)
    if fault is Fault.RATE_LIMIT:
        raise throttled(config.retry_after_s)
    if fault is Fault.UNAVAILABLE:
        raise unavailable()
    if fault is Fault.TIMEOUT:
        state.stats.timed_out(PROVIDER)
    prediction = Prediction(new_id(), model, MODELS[model], echoed(values), str(request.url.origin()))
    state.predictions.add(prediction)
    state.stats.by_provider[PROVIDER].predictions["created"] += 1
    prediction.task = asyncio.ensure_future(run_prediction(state, prediction, values, photo, fault, latency))
    if fault is Fault.DROP:
        raise DropAnswer
    wait = wait_seconds(request.headers.get("Prefer", ""))
    headers = {}
    if wait is not None:
        headers["Preference-Applied"] = request.headers["Prefer"].strip()
        with contextlib.suppress(TimeoutError):  # answered as it stands: the client polls from here
            await asyncio.wait_for(prediction.done.wait(), timeout=wait)
    return web.json_response(prediction.as_json(), status=201, headers=headers)


def found(request: web.Request) -> Prediction:
    check_auth(request)
    prediction = request.app[STATE].predictions.get(request.match_info["id"])
    if prediction is None:
        raise not_found()
    return prediction


async def handle_get(request: web.Request) -> web.Response:
    """`GET /v1/predictions/{id}`: free to call, not an image call (counted as a poll)."""
    state = request.app[STATE]
    state.stats.by_endpoint["/v1/predictions/{id}"] += 1
    state.stats.by_provider[PROVIDER].polls_total += 1
    try:
        return web.json_response(found(request).as_json())
    except Problem as problem:
        return problem.response()


async def handle_cancel(request: web.Request) -> web.Response:
    """`POST /v1/predictions/{id}/cancel`: a prediction still running ends `canceled` and makes no image."""
    state = request.app[STATE]
    state.stats.by_endpoint["/v1/predictions/{id}/cancel"] += 1
    try:
        prediction = found(request)
    except Problem as problem:
        return problem.response()
    if not prediction.is_final and prediction.task is not None:
        prediction.task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(prediction.done.wait(), timeout=5)
    logger.info("POST /v1/predictions/%s/cancel -> %s", prediction.id, prediction.status)
    return web.json_response({**prediction.as_json(), "webhook_completed": None})  # as Replicate's cancel answers


async def handle_file(request: web.Request) -> web.Response:
    """An output file, like replicate.delivery serves them."""
    state = request.app[STATE]
    name = f"{request.match_info['id']}/{request.match_info['name']}"
    data = state.files.get(f"replicate/{name}")
    state.stats.by_endpoint["/_sandbox/delivery"] += 1
    if data is None:
        raise web.HTTPNotFound(text="No such file.")
    state.stats.by_provider[PROVIDER].files_total += 1
    extension = name.rsplit(".", 1)[-1]
    return web.Response(body=data, content_type="image/jpeg" if extension == "jpg" else f"image/{extension}")


def add_routes(app: web.Application) -> None:
    app.router.add_post(CREATE_ENDPOINT, handle_create)
    app.router.add_get("/v1/predictions/{id}", handle_get)
    app.router.add_post("/v1/predictions/{id}/cancel", handle_cancel)
    app.router.add_get("/_sandbox/delivery/{id}/{name}", handle_file)
