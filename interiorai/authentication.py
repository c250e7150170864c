"""API authentication (kept apart from views: DRF imports it while its own views module loads)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication as DRFTokenAuthentication


class TokenAuthentication(DRFTokenAuthentication):
    """Accept `Authorization: Token <key>` and `Authorization: Bearer <key>`."""

    def authenticate(self, request: Any) -> Any:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            request.META["HTTP_AUTHORIZATION"] = "Token " + header[7:]
        return super().authenticate(request)
