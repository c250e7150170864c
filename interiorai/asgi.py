"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interiorai.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from core.bodylimit import BodyLimit  # noqa: E402
from core.clientip import TrustedProxies, networks  # noqa: E402
from core.concurrency import ConcurrencyLimit  # noqa: E402
from interiorai.routing import websocket_urlpatterns  # noqa: E402


def body_limit(path: str) -> int:
    """The most a request to `path` may send: a photo where photos are uploaded, about a megabyte elsewhere."""
    return settings.UPLOAD_REQUEST_MAX_BYTES if path in settings.UPLOAD_PATHS else settings.REQUEST_MAX_BYTES


proxies = networks(settings.TRUSTED_PROXIES)
application = ProtocolTypeRouter(
    {
        # The address first (what the body limit's and every throttle's client is), then the body's bound, then
        # a turn to run Django's code: an oversized body is refused without waiting for a turn.
        "http": TrustedProxies(
            BodyLimit(ConcurrencyLimit(django_asgi_app, settings.WEB_MAX_CONCURRENT_REQUESTS), body_limit), proxies
        ),
        "websocket": TrustedProxies(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))), proxies
        ),
    }
)
