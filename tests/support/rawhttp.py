"""HTTP/1.1 by hand over a socket, for requests no client library will send (lying lengths, bodies never sent)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(url: str, head: str, body: bytes = b"", timeout: float = 10) -> RawResponse:
    """Send `head` (request line and headers, without the blank line) and `body`; read the answer until close."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=timeout) as sock:
        request = head.replace("\n", "\r\n").rstrip("\r\n") + "\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1") + body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, rest)
