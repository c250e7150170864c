"""Webhook receivers as real HTTP servers on 127.0.0.1, and the signature check docs/API.md documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.waiting import wait_for


def verify_webhook(secret: str, headers: Any, body: bytes, tolerance: int = 300) -> bool:
    """The recipe from docs/API.md, word for word."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old (or from the future): refuse replays
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, signature.removeprefix("v1,"))
        for signature in headers["webhook-signature"].split()
        if signature.startswith("v1,")
    )


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver that records what it gets and answers as told (statuses in turn, then the last)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drip_s: float = 0.0  # send the answer one byte at a time, this far apart

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        wait_for(lambda: len(self.requests) >= count, timeout, 0.05, f"{count} webhook request(s)")
        return self.requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(receiver_factory: Callable[[ThreadingHTTPServer], Receiver]) -> Receiver:
    """Serve a receiver on a free port of 127.0.0.1; the factory may wrap the server's socket first (for TLS)."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            receiver = holder["r"]
            self.close_connection = True
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            receiver.requests.append(
                Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
            )
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            status = receiver.next_status()
            payload = b'{"ok": true}'
            head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in receiver.headers.items()) + "\r\n"
            data = head.encode() + payload
            try:
                if receiver.drip_s:
                    for byte in data:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.drip_s)
                else:
                    self.wfile.write(data)
            except OSError:
                pass  # the client hung up on a slow answer, as it should

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # server_close() waits for the request threads: none outlives the test that started it.
        daemon_threads = False
        block_on_close = True

        def verify_request(self, request: Any, client_address: Any) -> bool:
            holder["r"].connections += 1
            return True

    server = Server(("127.0.0.1", 0), Handler)
    receiver = receiver_factory(server)
    holder["r"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def register(client: Any, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/webhook-endpoints/", {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())
