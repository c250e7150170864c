"""The per-process bound on requests running Django code at once (interiorai/concurrency.py), on a real loop."""

from __future__ import annotations

import asyncio

from core.concurrency import ConcurrencyLimit


class SlowApp:
    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.order: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        await receive()  # like Django: the whole body first
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.order.append(scope["path"])
        self.running -= 1


def run_all(app, scopes):
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def main():
        await asyncio.gather(*(app(scope, receive, None) for scope in scopes))

    asyncio.run(main())


def test_at_most_limit_requests_run_at_once_and_the_rest_wait_in_order():
    inner = SlowApp()
    run_all(ConcurrencyLimit(inner, 3), [{"type": "http", "path": f"/r{i}"} for i in range(12)])
    assert inner.most == 3
    assert inner.order == [f"/r{i}" for i in range(12)], "first come, first served"


def test_liveness_and_websockets_never_wait():
    inner = SlowApp()
    scopes = [{"type": "http", "path": "/healthz"}] * 5 + [{"type": "websocket", "path": "/ws/generations/"}] * 5
    run_all(ConcurrencyLimit(inner, 1), scopes)
    assert inner.most == 10


def test_zero_means_no_limit():
    inner = SlowApp()
    run_all(ConcurrencyLimit(inner, 0), [{"type": "http", "path": f"/r{i}"} for i in range(8)])
    assert inner.most == 8


def test_a_slow_upload_holds_no_turn_while_its_body_trickles_in():
    inner = SlowApp()
    gate = ConcurrencyLimit(inner, 1)

    async def main():
        arrived = asyncio.Event()

        async def slow_receive():
            await arrived.wait()  # the body is still on its way
            return {"type": "http.request", "body": b"x", "more_body": False}

        async def fast_receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        slow = asyncio.create_task(gate({"type": "http", "path": "/upload"}, slow_receive, None))
        await asyncio.sleep(0)
        await gate({"type": "http", "path": "/quick"}, fast_receive, None)  # not stuck behind the upload
        arrived.set()
        await slow

    asyncio.run(main())
    assert inner.order == ["/quick", "/upload"]
