"""API tokens: made, looked up and revoked here; only a hash of each key is ever stored."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from developers.models import ApiToken

log = logging.getLogger("developers")

KEY_PREFIX = "iai_"
LOGIN_TOKEN_NAME = "api login"  # noqa: S105 - a display name
# Each password login mints a token (a stored hash cannot be handed out again); the oldest beyond this go.
MAX_LOGIN_TOKENS = 20
# last_used_at is for people reading the token list: a minute's precision spares a write per request.
TOUCH_EVERY = timedelta(minutes=1)
MAX_KEY_LENGTH = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(user: Any, name: str, source: str = ApiToken.Source.WEB) -> tuple[ApiToken, str]:
    """Make a token and return it with its key, which exists only in this return value from now on."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "API token", prefix=key[:12], key_hash=hash_key(key), source=source
    )
    log.info("api token created token=%s user=%s source=%s", token.pk, user.pk, source)
    return token, key


def create_login_token(user: Any) -> str:
    """Mint a token for a username/password login, revoking the oldest login tokens beyond the cap."""
    with transaction.atomic():
        _, key = create_token(user, LOGIN_TOKEN_NAME, source=ApiToken.Source.LOGIN)
        live = ApiToken.objects.filter(user=user, source=ApiToken.Source.LOGIN, revoked_at=None)
        stale = list(live.order_by("-created_at", "-pk").values_list("pk", flat=True)[MAX_LOGIN_TOKENS:])
        if stale:
            ApiToken.objects.filter(pk__in=stale).update(revoked_at=timezone.now())
    return key


def revoke_token(token: ApiToken) -> bool:
    """Revoke at once: the next request that carries the key is refused."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now()) == 1
    if revoked:
        log.info("api token revoked token=%s user=%s", token.pk, token.user_id)
    return revoked


def token_for_key(key: str) -> ApiToken | None:
    """The live token with this key (its user loaded), or None."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key), revoked_at=None).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
