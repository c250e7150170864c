"""Generation workers advertise themselves in Redis, so readiness and wait estimates see live capacity."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from core.redis import redis_client
from generation import dispatcher

log = logging.getLogger(__name__)
KEY_PREFIX = "gen:worker:"
TTL_S = 30
HEARTBEAT_S = 10
_stop = threading.Event()


def live_workers() -> dict[str, int]:
    """Hostname -> generation slots of every worker heard from in the last TTL_S seconds."""
    client = redis_client()
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=200))
    values = client.mget(keys) if keys else []
    return {k.decode()[len(KEY_PREFIX) :]: int(v) for k, v in zip(keys, values, strict=True) if v is not None}


def _advertise(hostname: str, slots: int) -> None:
    while True:
        try:
            redis_client().set(KEY_PREFIX + hostname, slots, ex=TTL_S)
        except Exception:
            log.warning("worker heartbeat failed", exc_info=True)
        if _stop.wait(HEARTBEAT_S):
            return


@worker_ready.connect
def start_heartbeat(sender: Any, **_: Any) -> None:
    queues = [queue.name for queue in sender.task_consumer.queues]
    if not any(name.startswith("gen.") for name in queues):
        return
    slots = int(sender.controller.concurrency or 1)
    threading.Thread(target=_advertise, args=(sender.hostname, slots), name="gen-heartbeat", daemon=True).start()
    dispatcher.start_in_this_process()
    log.info("generation worker ready host=%s slots=%s queues=%s", sender.hostname, slots, ",".join(queues))


@worker_shutdown.connect
def stop_heartbeat(sender: Any = None, **_: Any) -> None:
    _stop.set()
    dispatcher.stop_in_this_process()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        try:
            redis_client().delete(KEY_PREFIX + hostname)
        except Exception:
            log.debug("could not remove worker key", exc_info=True)
