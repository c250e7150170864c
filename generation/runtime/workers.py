"""A generation worker's life: it advertises its slots, runs a dispatcher candidate and a sweeper."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from generation import capacity
from generation.runtime import dispatcher, sweeper

log = logging.getLogger(__name__)
_stop = threading.Event()


def _advertise(hostname: str, slots: int) -> None:
    while True:
        try:
            capacity.advertise(hostname, slots)
        except Exception:
            log.warning("worker heartbeat failed", exc_info=True)
        if _stop.wait(capacity.HEARTBEAT_S):
            return


@worker_ready.connect
def start_heartbeat(sender: Any, **_: Any) -> None:
    queues = [queue.name for queue in sender.task_consumer.queues]
    if not any(name.startswith("gen.") for name in queues):
        return
    slots = int(sender.controller.concurrency or 1)
    threading.Thread(target=_advertise, args=(sender.hostname, slots), name="gen-heartbeat", daemon=True).start()
    dispatcher.start_in_this_process()
    sweeper.start_in_this_process()
    log.info("generation worker ready host=%s slots=%s queues=%s", sender.hostname, slots, ",".join(queues))


@worker_shutdown.connect
def stop_heartbeat(sender: Any = None, **_: Any) -> None:
    _stop.set()
    dispatcher.stop_in_this_process()
    sweeper.stop_in_this_process()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        try:
            capacity.withdraw(hostname)
        except Exception:
            log.debug("could not remove worker key", exc_info=True)
