"""Refuse a request body over its route's limit before Django reads any of it: 413, or 400 for a bad length.

Django reads a whole body into memory or a temporary file before any view (or authentication) runs, so a
limit checked in a view comes too late: an anonymous client could make every web process spool gigabytes. This
guard sits in front of Django, answers at once when the declared Content-Length is over the limit, and counts the
bytes of a body that streams in without one (or with a false one), cutting it off at the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Limits = Callable[[str], int]


class BodyTooLarge(Exception):
    pass


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The start and body messages of a JSON error in the API's envelope."""
    body = json.dumps({"error": {"code": code, "message": message, **extra}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def declared_length(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            return bytes(value).strip()
    return None


class BodyLimit:
    def __init__(self, app: Any, limit_for: Limits) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = declared_length(scope)
        if declared is not None and not declared.isdigit():
            await self.refuse(send, 400, "invalid_content_length", "Content-Length must be a number of bytes.")
            return
        if declared is not None and int(declared) > limit:
            await self.too_large(send, limit)
            return
        received = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self.too_large(send, limit)

    async def too_large(self, send: Any, limit: int) -> None:
        message = f"The request body is larger than this address takes ({limit:,} bytes)."
        await self.refuse(send, 413, "request_too_large", message, limit_bytes=limit)

    async def refuse(self, send: Any, status: int, code: str, message: str, **extra: Any) -> None:
        start, body = error_response(status, code, message, **extra)
        await send(start)
        await send(body)
