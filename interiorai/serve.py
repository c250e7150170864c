"""Run several daphne processes on one listening socket: `python -m interiorai.serve --processes N`.

One Python process runs Django's sync code one thread at a time (the GIL), so one daphne uses one core however
many requests wait. This binds the port once and starts N daphne processes that all accept from it (the kernel
hands each new connection to one of them), replaces any that dies, and stops them all on SIGTERM or Ctrl-C.
WebSocket groups live in the Redis channel layer, so a page's socket may sit in any process.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

APP = "interiorai.asgi:application"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "0") or 0))
    parser.add_argument("daphne_args", nargs="*", help="passed to every daphne (after --)")
    args = parser.parse_args(argv)
    if args.processes <= 0:
        args.processes = max(1, min(os.cpu_count() or 1, 4))
    return args


def listen(host: str, port: int) -> socket.socket:
    # IPv4: Twisted adopts an inherited descriptor as AF_INET unless told otherwise, and daphne's --fd cannot.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def spawn(sock: socket.socket, extra: list[str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), *extra, APP]
    return subprocess.Popen(argv, pass_fds=[sock.fileno()])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sock = listen(args.host, args.port)
    children = [spawn(sock, args.daphne_args) for _ in range(args.processes)]
    print(f"serving on http://{args.host}:{args.port} with {args.processes} daphne processes", flush=True)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.5)
        for index, child in enumerate(children):
            if child.poll() is not None and not stopping:
                print(f"daphne {child.pid} exited with {child.returncode}; starting another", flush=True)
                time.sleep(1)
                children[index] = spawn(sock, args.daphne_args)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
