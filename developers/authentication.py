"""API authentication: `Authorization: Token <key>` (or `Bearer <key>`) for a live API token."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from developers.tokens import token_for_key

KEYWORDS = (b"token", b"bearer")


class TokenAuthentication(BaseAuthentication):
    """Accept `Authorization: Token <key>` and `Authorization: Bearer <key>` for a live (unrevoked) API token."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected `Token <key>`.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = token_for_key(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        # A value here makes DRF answer 401 (with WWW-Authenticate) rather than 403 to anonymous callers.
        return "Token"
