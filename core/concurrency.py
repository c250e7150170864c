"""Bound how many HTTP requests run Django's sync code at once in one process; the rest wait their turn.

Under ASGI, Django runs each request's sync code in a thread of its own. A burst of a thousand requests makes a
thousand threads that share one GIL and a pool of a few database connections: every request crawls, each holds
its connection while it waits for the interpreter, and the ones that cannot get a connection in time fail. Letting
only as many requests in as there are pooled connections keeps the rest waiting, cheaply, in the event loop, and
serves them in arrival order at full speed. Liveness (`/healthz`) and WebSockets never wait here.
"""

from __future__ import annotations

import asyncio
from typing import Any

EXEMPT_PATHS = frozenset({"/healthz", "/healthz/"})


class ConcurrencyLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)  # created in the server's event loop
        semaphore, held = self._semaphore, False

        async def receive_then_queue() -> dict[str, Any]:
            # Wait for a turn once the whole body has arrived: a slow upload holds no turn while it trickles in.
            nonlocal held
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request" and not message.get("more_body") and not held:
                await semaphore.acquire()
                held = True
            return message

        try:
            await self.app(scope, receive_then_queue, send)
        finally:
            if held:
                semaphore.release()
