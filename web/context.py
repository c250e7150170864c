from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from billing.services import ensure_account, usage_fraction


def usage_banner(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's account, for the usage meter and the 80% warning banner."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/api/", "/admin/")):
        return {}
    account = ensure_account(user)
    fraction = usage_fraction(account)
    # Figures of a period that is over are stale until the next write rolls them over: show them as reset.
    used = 0 if account.period_is_over() else account.generations_used
    taken = used + account.reserved_generations
    limit = account.generations_limit
    meter = {
        "used": used,
        "in_progress": account.reserved_generations,
        "limit": limit,
        "remaining": max(limit - taken, 0),
        "percent": min(round(taken * 100 / max(limit, 1)), 100),
        "resets": account.period_end,
    }
    return {
        "account": account,
        "meter": meter,
        "usage_percent": min(round(fraction * 100), 100),
        "usage_warning": fraction >= 0.8,
    }
