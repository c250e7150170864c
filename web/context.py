from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def usage_banner(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's account, for the usage meter and the 80% warning banner."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/api/", "/admin/")):
        return {}
    from billing.services import ensure_account, usage_fraction

    account = ensure_account(user)
    fraction = usage_fraction(account)
    return {"account": account, "usage_percent": min(round(fraction * 100), 100), "usage_warning": fraction >= 0.8}
