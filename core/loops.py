"""A background loop in a worker process: a step, a pause the step chooses, again, until the process stops.

The dispatcher and the sweeper run this way in every generation worker; a failing step is logged and tried
again later, never allowed to end the loop, and the thread's database connection goes back after every step.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

log = logging.getLogger(__name__)


class Loop:
    """Subclasses give `name`, `step()` (returning the seconds to wait before the next) and `retry_s`."""

    name = "loop"
    retry_s = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()

    def step(self) -> float:
        raise NotImplementedError

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                pause = self.step()
            except Exception:
                log.warning("%s step failed; trying again in %.1fs", self.name, self.retry_s, exc_info=True)
                pause = self.retry_s
            finally:
                close_old_connections()
            self._stop.wait(pause)
