"""The client's address: the connection's peer, or what a configured proxy says it forwarded for.

X-Forwarded-For is whatever the sender wrote. Believed from anyone, it lets a client pick a new address per
request and start every per-address throttle and lock-out afresh. Only a peer listed in TRUSTED_PROXIES may name
the client (the rightmost address in the header that is not itself a trusted proxy); from anyone else the
forwarding headers are dropped before Django sees them, so nothing downstream (DRF's throttles, django-axes,
SECURE_PROXY_SSL_HEADER) can read a forged one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDING_HEADERS = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-real-ip", b"forwarded"}
)


def networks(entries: Iterable[str]) -> list[Network]:
    """TRUSTED_PROXIES entries (addresses or CIDR ranges) as networks; a bad entry fails loudly."""
    try:
        return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES must be IP addresses or CIDR ranges: {exc}") from exc


def remote_addr(request: HttpRequest) -> str | None:
    """The client's address as resolved by TrustedProxies (django-axes and the web's throttles ask this)."""
    return request.META.get("REMOTE_ADDR") or None


class TrustedProxies:
    """ASGI middleware: set scope["client"] from X-Forwarded-For only when the peer is a trusted proxy."""

    def __init__(self, app: Any, proxies: list[Network]) -> None:
        self.app = app
        self.proxies = proxies

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.resolve(scope)
        await self.app(scope, receive, send)

    def resolve(self, scope: dict[str, Any]) -> dict[str, Any]:
        headers = list(scope.get("headers", []))
        peer = (scope.get("client") or (None, 0))[0]
        if peer is None or not self.trusted(peer):
            kept = [(name, value) for name, value in headers if name.lower() not in FORWARDING_HEADERS]
            return {**scope, "headers": kept}
        client = peer
        for hop in reversed(self.forwarded_for(headers)):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage in the chain: stop at the last address a trusted hop vouched for
            client = hop
            if not self.trusted(hop):
                break
        return {**scope, "client": (client, 0)}

    @staticmethod
    def forwarded_for(headers: list[tuple[bytes, bytes]]) -> list[str]:
        values = [value.decode("latin-1") for name, value in headers if name.lower() == b"x-forwarded-for"]
        return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
