"""Keep processes running: `python -m interiorai.supervise -- celery -A interiorai worker …`.

A Celery worker can die on its own: kombu's Redis transport has a known race in which a broker restart ends the
worker with "Unrecoverable error" while a thread acknowledges a message. Docker restarts containers by policy;
`make run` and the benchmark have no such policy, so they start workers (and `interiorai.serve` its daphne
processes) under this supervisor: a child that exits is started again, after a pause that grows while it keeps
crashing. A child that refuses its configuration (exit status 78, EX_CONFIG) is not restarted: it would only
refuse again. SIGTERM and Ctrl-C stop every child and then the supervisor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

EX_CONFIG = os.EX_CONFIG  # 78
MAX_PAUSE_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before exiting crashed, it was not crash-looping


class Supervisor:
    def __init__(self, spawn: Callable[[], subprocess.Popen[bytes]], count: int = 1, name: str = "child") -> None:
        self.spawn = spawn
        self.name = name
        self.children = [spawn() for _ in range(count)]
        self.started = [time.monotonic()] * count
        self.pauses = [1.0] * count
        self.status = 0
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        self._stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        while not self._stop.wait(0.5):
            for index, child in enumerate(list(self.children)):
                if child.poll() is None or self.stopping:
                    continue
                self.restart(index, child)
        self.terminate()
        return self.status

    def restart(self, index: int, child: subprocess.Popen[bytes]) -> None:
        if child.returncode == EX_CONFIG:
            print(f"{self.name} {child.pid} refused its configuration; not restarting it", flush=True)
            self.status = EX_CONFIG
            self.stop()
            return
        ran = time.monotonic() - self.started[index]
        self.pauses[index] = 1.0 if ran > STABLE_AFTER_S else min(self.pauses[index] * 2, MAX_PAUSE_S)
        print(f"{self.name} {child.pid} exited with {child.returncode}; starting another", flush=True)
        if self._stop.wait(self.pauses[index]):
            return
        self.children[index] = self.spawn()
        self.started[index] = time.monotonic()

    def terminate(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in self.children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()


def main(argv: list[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("usage: python -m interiorai.supervise -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return Supervisor(lambda: subprocess.Popen(command), name=command[0]).run()


if __name__ == "__main__":
    sys.exit(main())
