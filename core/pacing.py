"""Pages count against the same budgets as the API: a 429 ApiError when a user does something too often."""

from __future__ import annotations

import math
from typing import Any

from core.api import ApiError
from core.throttle import rate_for, take, user_key, work_key


def throttled(wait_s: float, message: str = "Too many requests; retry later.") -> ApiError:
    """The 429 every throttle answers, with Retry-After."""
    error = ApiError("throttled", message, 429, retry_after=math.ceil(wait_s))
    error.headers["Retry-After"] = str(math.ceil(wait_s))
    return error


def spend_work(user: Any) -> None:
    """Count one create, cancel or replay a page asks for (the API's WorkRateThrottle books the same); 429 over it."""
    wait = take(work_key(user.pk), rate_for("work"))
    if wait is not None:
        raise throttled(wait, "You are doing that too often; wait a moment and try again.")


def spend_request(user: Any) -> None:
    """Count a page's request against the user's API budget (scope `user`), as an upload through the API would."""
    wait = take(user_key(user.pk), rate_for("user"))
    if wait is not None:
        raise throttled(wait, "You are doing that too often; wait a moment and try again.")
