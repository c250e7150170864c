"""The aiohttp application: OpenAI image endpoints plus `/_sandbox/*` control endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from PIL import Image

from . import errors, imaging, replicate, responses
from .config import ConfigError, SandboxConfig
from .errors import ApiError
from .faults import Fault, draw_fault, draw_latency
from .limits import LimitDecision, retry_after_headers
from .moderation import moderation_response
from .state import STATE, SandboxState, spoil
from .stats import RequestRecord
from .validation import (
    EDITS,
    GENERATIONS,
    MODERATIONS_ENDPOINT,
    ImageJob,
    Upload,
    check_moderation,
    decode_uploads,
    parse_job,
    parse_moderation,
)

logger = logging.getLogger("sandbox")

T = TypeVar("T")
MAX_BODY_BYTES = 100 * 1024 * 1024
# Benchmarks open hundreds of connections at once; the default of 128 would make some wait for SYN retries.
BACKLOG = 1024
FILE_STORE_SIZE = 200
RENDER_CACHE_SIZE = 32
IMAGE_ENDPOINTS = frozenset({EDITS, GENERATIONS})
LOGGED_ENDPOINTS = IMAGE_ENDPOINTS | {MODERATIONS_ENDPOINT}
# Headers worth checking in tests (retries, idempotency); never Authorization.
RECORDED_HEADERS = ("User-Agent", "X-Stainless-Retry-Count", "Idempotency-Key")
GPT_RENDER_SIZES = {"1024x1024": (1024, 1024), "1536x1024": (1536, 1024), "1024x1536": (1024, 1536)}


class DropConnection(Exception):
    """Close the client's connection without answering."""


# --- reading requests ---------------------------------------------------------------------------


async def read_values(request: web.Request, endpoint: str) -> dict[str, object]:
    """Read the body as the endpoint expects it: multipart for edits, JSON for generations."""
    if endpoint == EDITS:
        if request.content_type != "multipart/form-data":
            message = "The sandbox accepts only multipart/form-data on /v1/images/edits."
            raise errors.bad_request(message, code="invalid_content_type")
        return await read_multipart(request)
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        raise errors.bad_request("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise errors.bad_request("The request body must be a JSON object.")
    return body


async def read_multipart(request: web.Request) -> dict[str, object]:
    """Collect form fields; repeated names and names ending in `[]` become lists."""
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"Request body larger than {MAX_BODY_BYTES} bytes.") from None
    except ValueError as exc:
        raise errors.bad_request(f"Could not parse multipart form: {exc}") from None
    values: dict[str, object] = {}
    for key, value in form.items():
        item: object = value
        if isinstance(value, web.FileField):
            item = Upload(value.filename, value.content_type, value.file.read())
        existing = values.get(key)
        if isinstance(existing, list):
            existing.append(item)
        elif existing is not None:
            values[key] = [existing, item]
        else:
            values[key] = [item] if key.endswith("[]") else item
    return values


def describe_values(values: dict[str, object]) -> dict[str, Any]:
    """Make the request's values JSON-ready, replacing file parts by a summary."""

    def describe(item: object) -> object:
        return item.describe() if isinstance(item, Upload) else item

    return {key: [describe(i) for i in v] if isinstance(v, list) else describe(v) for key, v in values.items()}


def check_auth(request: web.Request) -> None:
    """Accept any non-blank bearer key except `sk-invalid`, which tests the 401 path."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip() if scheme.lower() == "bearer" else ""
    if not key or key == "sk-invalid":
        raise errors.invalid_api_key(key)


# --- producing images ---------------------------------------------------------------------------


def output_size(job: ImageJob, photo: Image.Image | None) -> tuple[int, int]:
    """Resolve the requested size; `auto` follows the photo's aspect ratio."""
    if job.size in GPT_RENDER_SIZES:
        return GPT_RENDER_SIZES[job.size]
    if job.size == "auto":
        return imaging.closest_size(*photo.size) if photo is not None else (1024, 1024)
    side = int(job.size.split("x")[0])
    return side, side


def render_all(
    state: SandboxState,
    job: ImageJob,
    photo: Image.Image | None,
    mask: Image.Image | None,
    size: tuple[int, int],
    seed: int,
) -> list[bytes]:
    """Render the job's `n` images, reusing cached bytes for repeated identical requests."""
    inputs = hashlib.sha256(b"".join(hashlib.sha256(data).digest() for data in job.images))
    inputs.update(hashlib.sha256(job.mask or b"").digest())
    images = []
    for index in range(job.n):
        spec = imaging.RenderSpec(
            width=size[0],
            height=size[1],
            prompt=job.prompt,
            quality=job.quality,
            seed=seed,
            index=index,
            output_format=job.output_format,
            compression=job.output_compression,
            transparent=job.background == "transparent",
        )
        key = f"{inputs.hexdigest()}:{spec!r}:{state.config.render_scale}"
        cached = state.renders.get(key)
        if cached is None:
            cached = imaging.render(photo, mask, spec, state.config.render_scale)
            state.renders.put(key, cached)
        images.append(cached)
    return images


def publish_files(state: SandboxState, request: web.Request, images: list[bytes], job: ImageJob) -> list[str]:
    """Keep images for `GET /_sandbox/files/<name>` and return their URLs (dall-e-2 `url` format)."""
    urls = []
    for data in images:
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{job.output_format}"
        state.files.put(name, data)
        urls.append(f"{request.url.origin()}/_sandbox/files/{name}")
    return urls


# --- the image endpoints ------------------------------------------------------------------------


async def process_image_request(request: web.Request, state: SandboxState, record: RequestRecord) -> web.Response:
    """Answer one image request, applying outage, auth, validation, limits, faults and latency."""
    endpoint = record.endpoint
    values: dict[str, object] = {}
    read_error: ApiError | None = None
    try:
        values = await read_values(request, endpoint)
    except ApiError as exc:
        read_error = exc
    record.fields = describe_values(values)
    config = state.config.for_provider("openai")
    if config.outage:
        raise errors.overloaded()
    check_auth(request)
    if read_error is not None:
        raise read_error
    job = parse_job(values, endpoint, multipart=endpoint == EDITS)
    if config.model_down(job.model):
        raise errors.overloaded()
    # Like a gateway, count the request at the moment it arrived: not after its upload was read, not after the
    # (slow) image decoding. A busy event loop must not make a client that kept to the limit look too fast.
    decision = state.limiter.acquire(config.rpm, config.ipm, job.n, config.window_s, arrived=record.started)
    record.ratelimit_headers = decision.headers
    if not decision.allowed:
        raise limit_exceeded(decision, config, job.n)
    photo, mask = await state.run(decode_uploads, job)
    check_moderation(job)
    fault, latency = draw_fault(state.rng, config), draw_latency(state.rng, config)
    record.note = f"model={job.model} n={job.n} size={job.size} fault={fault.value}"
    return await serve_with_faults(request, state, record, job, (photo, mask), fault, latency)


async def serve_with_faults(
    request: web.Request,
    state: SandboxState,
    record: RequestRecord,
    job: ImageJob,
    uploads: tuple[Image.Image | None, Image.Image | None],
    fault: Fault,
    latency: float,
) -> web.Response:
    """Inject the drawn fault (early ones now, late ones after the latency) or answer the images."""
    config = state.config.for_provider("openai")
    photo, mask = uploads
    if fault is not Fault.NONE:
        state.stats.fault(fault.value)
    if fault is Fault.RATE_LIMIT:
        message = "Rate limit reached (injected by the sandbox). Please try again shortly."
        raise errors.rate_limited(message, retry_after_headers(config.retry_after_s))
    if fault is Fault.TIMEOUT:
        # The hang replaces the latency; a client that gives up cancels this handler.
        state.stats.timed_out()
        record.outcome = "hanging"
        await asyncio.sleep(config.hang_s)
        latency = 0.0
    size = output_size(job, photo)
    rendering = state.run(render_all, state, job, photo, mask, size, config.seed)
    work = asyncio.ensure_future(rendering)
    try:
        await asyncio.sleep(latency)
        if fault is Fault.DROP:
            raise DropConnection
        if fault is Fault.SERVER_ERROR:
            raise errors.server_error()
        if fault is Fault.UNAVAILABLE:
            raise errors.overloaded()
        images = await work
    finally:
        if not work.done():
            # The thread finishes on its own; only stop waiting for it.
            work.cancel()
    images = spoil(state, images, job.output_format, job.output_compression, size)
    urls = publish_files(state, request, images, job) if job.response_format == "url" else None
    input_sizes = [photo.size] if photo is not None else []
    body = responses.images_response(job, images, size, input_sizes, urls)
    state.stats.images(len(images))
    return web.json_response(body)


def limit_exceeded(decision: LimitDecision, config: SandboxConfig, requested: int) -> ApiError:
    """Build the 429 for an exceeded rpm or ipm limit."""
    if decision.exceeded == "images":
        what, limit = "images per min (IPM)", config.ipm
    else:
        what, limit = "requests per min (RPM)", config.rpm
    message = (
        f"Rate limit reached for images in organization org-sandbox on {what}: Limit {limit}, "
        f"Requested {requested if decision.exceeded == 'images' else 1}. "
        f"Please try again in {decision.retry_after_s:.3f}s."
    )
    return errors.rate_limited(message, retry_after_headers(decision.retry_after_s))


def drop_connection(request: web.Request) -> web.Response:
    """Close the socket so the client sees a connection error instead of a response."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=499)


async def handle_images(request: web.Request) -> web.StreamResponse:
    """Count, record and answer `POST /v1/images/edits` and `POST /v1/images/generations`."""
    state = request.app[STATE]
    endpoint = request.path
    state.stats.arrive(endpoint)
    headers = {key: request.headers[key] for key in RECORDED_HEADERS if key in request.headers}
    record = state.log.start(endpoint, request.method, request.content_type, headers, remote=request.remote)
    try:
        try:
            response = await process_image_request(request, state, record)
            record.outcome = "ok"
        except ApiError as exc:
            response = error_response(exc)
            record.outcome = "error"
        except DropConnection:
            state.stats.dropped()
            record.outcome = "dropped"
            return drop_connection(request)
        finalize(response, record)
        record.status = response.status
        state.stats.answered(response.status)
        return response
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the client hangs up (handler_cancellation=True).
        record.outcome = "timeout" if record.outcome == "hanging" else "cancelled"
        raise
    finally:
        record.duration_s = round(time.monotonic() - record.started, 4)
        state.stats.leave()
        shown = record.status or record.outcome
        logger.info("%s %s %s %.2fs %s", request.method, endpoint, shown, record.duration_s, record.note)


def error_response(exc: ApiError) -> web.Response:
    """Render an ApiError as OpenAI's `ErrorResponse` JSON."""
    return web.json_response(exc.body(), status=exc.status, headers=exc.headers)


def finalize(response: web.Response, record: RequestRecord) -> None:
    """Add the headers every OpenAI response carries."""
    response.headers.update(record.ratelimit_headers)
    response.headers["x-request-id"] = f"req_sandbox_{record.id:08d}"
    response.headers["openai-version"] = "2020-10-01"
    response.headers["openai-processing-ms"] = str(round((time.monotonic() - record.started) * 1000))


async def handle_moderations(request: web.Request) -> web.Response:
    """Answer `POST /v1/moderations` at once: outage and auth apply, latency, limits and injected faults do not."""
    state = request.app[STATE]
    state.stats.by_endpoint[MODERATIONS_ENDPOINT] += 1
    state.stats.moderations_total += 1
    headers = {key: request.headers[key] for key in RECORDED_HEADERS if key in request.headers}
    record = state.log.start(MODERATIONS_ENDPOINT, request.method, request.content_type, headers, remote=request.remote)
    try:
        try:
            body = await read_values(request, MODERATIONS_ENDPOINT)
            record.fields = body
            if state.config.outage:
                raise errors.overloaded()
            check_auth(request)
            model, items = parse_moderation(body)
            answer = moderation_response(model, items, state.config.flag_terms)
            flagged = sum(item["flagged"] for item in answer["results"])
            state.stats.moderations_flagged += flagged
            record.note = f"model={model} inputs={len(items)} flagged={flagged}"
            response = web.json_response(answer)
            record.outcome = "ok"
        except ApiError as exc:
            response = error_response(exc)
            record.outcome = "error"
        finalize(response, record)
        record.status = response.status
        return response
    finally:
        record.duration_s = round(time.monotonic() - record.started, 4)
        logger.info(
            "%s %s %s %.3fs %s", request.method, MODERATIONS_ENDPOINT, record.status, record.duration_s, record.note
        )


async def handle_unknown_v1(request: web.Request) -> web.Response:
    """Answer any other /v1 path like OpenAI does, and count it."""
    state = request.app[STATE]
    state.stats.arrive(request.path)
    try:
        status = 404
        state.stats.answered(status)
        error = ApiError(status, f"Invalid URL ({request.method} {request.path})")
        return error_response(error)
    finally:
        state.stats.leave()


# --- control endpoints --------------------------------------------------------------------------


async def get_config(request: web.Request) -> web.Response:
    """Return the current config."""
    return web.json_response(request.app[STATE].config.as_dict())


async def post_config(request: web.Request) -> web.Response:
    """Change any subset of config keys; reject unknown keys and bad values with 400."""
    state = request.app[STATE]
    try:
        changes = await request.json()
    except ValueError:
        return error_response(ApiError(400, "The body must be a JSON object.", code="invalid_json"))
    if not isinstance(changes, dict):
        return error_response(ApiError(400, "The body must be a JSON object.", code="invalid_json"))
    try:
        state.configure(changes)
    except ConfigError as exc:
        return error_response(ApiError(400, exc.message, param=exc.param, code="invalid_config"))
    logger.info("config changed: %s", json.dumps(changes, sort_keys=True))
    return web.json_response(state.config.as_dict())


async def get_stats(request: web.Request) -> web.Response:
    """Return the counters."""
    return web.json_response(request.app[STATE].stats.as_dict())


async def reset_stats(request: web.Request) -> web.Response:
    """Zero the counters and return them."""
    stats = request.app[STATE].stats
    stats.reset()
    return web.json_response(stats.as_dict())


async def get_requests(request: web.Request) -> web.Response:
    """Return the last `limit` (default 100) recorded /v1 requests, oldest first."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return error_response(ApiError(400, "limit must be an integer.", param="limit"))
    return web.json_response(request.app[STATE].log.last(limit))


async def reset_requests(request: web.Request) -> web.Response:
    """Forget the recorded requests."""
    request.app[STATE].log.clear()
    return web.json_response({"cleared": True})


async def reset_all(request: web.Request) -> web.Response:
    """Zero stats, clear recorded requests and rate-limit windows, and restart the RNG."""
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def get_file(request: web.Request) -> web.Response:
    """Serve an image returned earlier as a URL."""
    name = request.match_info["name"]
    data = request.app[STATE].files.get(name)
    if data is None:
        raise web.HTTPNotFound(text="No such sandbox file.")
    extension = name.rsplit(".", 1)[-1]
    return web.Response(body=data, content_type=f"image/{extension}")


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 while the server runs."""
    return web.json_response({"status": "ok"})


# --- wiring -------------------------------------------------------------------------------------


@web.middleware
async def log_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Log one line per control request; the image handler logs its own, with more detail."""
    if request.path in LOGGED_ENDPOINTS:
        return await handler(request)
    started = time.monotonic()
    status: object = "cancelled"
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        logger.info("%s %s %s %.2fs", request.method, request.path, status, time.monotonic() - started)


async def shutdown_executor(app: web.Application) -> None:
    """Stop the render threads without waiting for abandoned work."""
    app[STATE].predictions.clear()
    app[STATE].executor.shutdown(wait=False, cancel_futures=True)


def create_app(config: SandboxConfig | None = None) -> web.Application:
    """Build the sandbox application."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[log_requests])
    app[STATE] = SandboxState(config or SandboxConfig())
    app.router.add_post(EDITS, handle_images)
    app.router.add_post(GENERATIONS, handle_images)
    app.router.add_post(MODERATIONS_ENDPOINT, handle_moderations)
    replicate.add_routes(app)
    app.router.add_route("*", "/v1/{tail:.*}", handle_unknown_v1)
    app.router.add_get("/_sandbox/healthz", healthz)
    app.router.add_get("/_sandbox/config", get_config)
    app.router.add_post("/_sandbox/config", post_config)
    app.router.add_get("/_sandbox/stats", get_stats)
    app.router.add_post("/_sandbox/stats/reset", reset_stats)
    app.router.add_get("/_sandbox/requests", get_requests)
    app.router.add_post("/_sandbox/requests/reset", reset_requests)
    app.router.add_post("/_sandbox/reset", reset_all)
    app.router.add_get("/_sandbox/files/{name}", get_file)
    app.on_cleanup.append(shutdown_executor)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """Return a runner that cancels handlers of clients that hang up and shuts down quickly."""
    return web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
