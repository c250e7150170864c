"""Many callers at the same moment, each on its own thread and database connection, as concurrent requests are."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def all_at_once(count: int, action: Callable[[int], T], timeout_s: float = 60) -> list[T]:
    """Run `action(0)` ... `action(count - 1)` on `count` threads released together; their results, in that order.

    Each thread closes its own connection when done. An exception in any of them is raised here, after all ended.
    """
    barrier = threading.Barrier(count)
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = action(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    assert not any(thread.is_alive() for thread in threads), "a caller did not finish in time"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
