"""Run several daphne processes on one listening socket: `python -m interiorai.serve --processes N`.

One Python process runs Django's sync code one thread at a time (the GIL), so one daphne uses one core however
many requests wait. This binds the port once and starts N daphne processes that all accept from it (the kernel
hands each new connection to one of them), replaces any that dies (interiorai/supervise.py), and stops them all
on SIGTERM or Ctrl-C.
WebSocket groups live in the Redis channel layer, so a page's socket may sit in any process.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

from interiorai.supervise import Supervisor

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
    supervisor = Supervisor(lambda: spawn(sock, args.daphne_args), count=args.processes, name="daphne")
    print(f"serving on http://{args.host}:{args.port} with {args.processes} daphne processes", flush=True)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
