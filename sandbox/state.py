"""What one running sandbox knows: its config, random streams, limit windows, counters, files and predictions."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from . import imaging
from .config import PROVIDERS, SandboxConfig
from .faults import Spoil, draw_spoil
from .limits import RateLimiter
from .predictions import Predictions
from .stats import RequestLog, Stats

T = TypeVar("T")
FILE_STORE_SIZE = 200
RENDER_CACHE_SIZE = 32


class BoundedStore:
    """A small thread-safe LRU of bytes: served image files and rendered outputs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, bytes] = OrderedDict()
        # Render threads share the cache, so every access holds the lock.
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """Return the stored bytes for `key`, or None."""
        with self.lock:
            return self.items.get(key)

    def put(self, key: str, value: bytes) -> None:
        """Store `value`, evicting the least recently used entry when full."""
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class SandboxState:
    """Everything one running sandbox knows; only touched from its event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.seed_rngs()
        # Each provider family keeps its own limit windows, so one side's traffic never uses up the other's.
        self.limiters = {family: RateLimiter() for family in PROVIDERS}
        self.limiter = self.limiters["openai"]
        self.predictions = Predictions()
        self.stats = Stats()
        self.log = RequestLog()
        self.files = BoundedStore(FILE_STORE_SIZE)
        self.renders = BoundedStore(RENDER_CACHE_SIZE)
        self.executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="sandbox-render")

    def configure(self, changes: dict[str, object]) -> None:
        """Apply config changes; setting `seed` restarts the RNG so runs repeat."""
        self.config = self.config.updated(changes)
        if "seed" in changes:
            self.seed_rngs()

    def seed_rngs(self) -> None:
        """Restart every random stream from the seed; OpenAI's keeps the stream it always had."""
        seed = self.config.seed
        self.rngs = {"openai": random.Random(seed), "replicate": random.Random(f"replicate-{seed}")}
        self.spoil_rngs = {"openai": random.Random(f"spoil-{seed}"), "replicate": random.Random(f"spoil-r-{seed}")}
        self.rng = self.rngs["openai"]

    def reset(self) -> None:
        """Zero stats, clear the request log and rate-limit windows, and restart the RNG."""
        self.stats.reset()
        self.log.clear()
        for limiter in self.limiters.values():
            limiter.reset()
        self.seed_rngs()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound image work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)


STATE = web.AppKey("sandbox_state", SandboxState)


def spoil(
    state: SandboxState,
    images: list[bytes],
    output_format: str,
    compression: int,
    size: tuple[int, int],
    provider: str = "openai",
) -> list[bytes]:
    """Replace the answer's images by flat colour or undecodable bytes, as `rate_blank` / `rate_corrupt` say."""
    rng = state.spoil_rngs[provider]
    kind = draw_spoil(rng, state.config.for_provider(provider))
    if kind is Spoil.NONE:
        return images
    state.stats.fault(kind.value, provider)
    if kind is Spoil.CORRUPT:
        return [imaging.truncate(data) for data in images]
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return [imaging.flat(*size, colour, output_format, compression) for _ in images]
