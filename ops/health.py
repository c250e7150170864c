"""Liveness and readiness: /healthz answers while the process serves; /readyz checks what jobs need."""

from __future__ import annotations

import time
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse

from core.redis import redis_client
from generation.capacity import live_workers
from ops.access import may_read_metrics


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"database: {type(exc).__name__}"
    return None


def check_redis() -> str | None:
    try:
        redis_client().ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}"
    return None


def check_workers() -> str | None:
    """At least one generation worker has advertised itself within its heartbeat TTL."""
    try:
        alive = live_workers()
    except Exception:
        return "workers: unknown (redis unreachable)"
    return None if alive else "workers: no generation worker is running"


def readyz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks: dict[str, Any] = {}
    failures = []
    for name, check in (("database", check_database), ("redis", check_redis), ("workers", check_workers)):
        problem = check()
        checks[name] = "ok" if problem is None else problem
        if problem:
            failures.append(name)
    body: dict[str, Any] = {"status": "ok" if not failures else "unavailable"}
    if request.user.is_staff or may_read_metrics(request):
        # What is down, and why, tells an outsider too much about the inside: staff and scrapers only.
        body.update(checks=checks, failed=failures, elapsed_ms=round((time.monotonic() - started) * 1000, 1))
    response = JsonResponse(body, status=200 if not failures else 503)
    if failures:
        response["Retry-After"] = "5"
    return response
