"""The channel layer from sync code, over connections that stay open.

`async_to_sync(layer.group_send)` in a thread without an event loop runs each call on a new loop, and channels_redis
keeps its connection pools per loop: every event opened a Redis connection and greeted it (HELLO, CLIENT SETINFO …)
before sending, four round trips more per event. Here one event loop per process, in a thread of its own, sends
every event, so its pool is opened once and reused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0  # a send that takes longer is given up: pages re-sync from snapshots


class LayerLoop:
    """An event loop running in a daemon thread, started on first use (again in a forked child)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_sender = LayerLoop()


def group_send(group: str, message: dict[str, Any], timeout_s: float = SEND_TIMEOUT_S) -> bool:
    """Send `message` to `group` and wait until the layer took it; False (logged) if there is no layer, or the
    send failed or took longer than `timeout_s`. Never call it from the sender's own loop."""
    layer = get_channel_layer()
    if layer is None:
        return False
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender.loop())
    try:
        future.result(timeout_s)
    except concurrent.futures.TimeoutError:
        future.cancel()
        log.warning("channel layer send to %s timed out after %ss", group, timeout_s)
        return False
    except Exception:
        log.warning("channel layer send to %s failed", group, exc_info=True)
        return False
    return True
