"""Outgoing webhook requests that cannot be turned against our own network (SSRF).

A URL is checked twice: when it is registered and again right before each request. Checking means
resolving the host ourselves and refusing it if any address it resolves to is loopback, private,
link-local, multicast, unspecified, reserved or otherwise not publicly routable, including IPv6 forms
that embed an IPv4 address. The request then goes to an address that was just checked (the name is
never resolved a second time, so DNS cannot change in between), with the name kept for the Host header,
TLS SNI and certificate checks. Redirects are never followed and one deadline bounds the whole attempt.

Receivers listed in WEBHOOK_ALLOWLIST (host:port) skip the address check, for tests and on-premises
receivers; they are still pinned, still time-limited and still never redirected.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
from django.conf import settings

from developers import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000
MAX_RESPONSE_BYTES = 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class Refused(Exception):
    """The URL may not be called; the message says why in words the user can act on."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case ASCII (IDNA), IPv6 without brackets
    port: int
    path: str  # path and query, as sent on the request line
    allowlisted: bool

    @property
    def is_ip(self) -> bool:
        return _ip_or_none(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


@dataclass
class Answer:
    """What one attempt got back: a status code, or an error, never both missing."""

    status: int | None = None
    body: str = ""
    error: str = ""
    address: str = ""
    duration_ms: int = 0


# Checking ---------------------------------------------------------------------------------------------


def parse(url: str) -> Target:
    """Check the URL's shape (scheme, no credentials, a sane host and port) without touching the network."""
    if not isinstance(url, str) or not url:
        raise Refused("Enter a URL.")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in url):
        raise Refused("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused("The URL is malformed.") from exc
    scheme = parts.scheme.lower()
    allowed = ("http", "https") if conf.http_allowed() else ("https",)
    if scheme not in allowed:
        raise Refused("The URL must start with https://." if scheme == "http" else "Use an https:// URL.")
    if "@" in parts.netloc:
        raise Refused("The URL must not contain a user name or password.")
    if parts.fragment or url.endswith("#"):
        raise Refused("The URL must not contain a #fragment.")
    host = _clean_host(parts.netloc, parts.hostname or "")
    if port == 0:
        raise Refused("The URL's port is invalid.")
    port = port or DEFAULT_PORTS[scheme]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, allowlisted=(host, port) in conf.allowlist())


def _clean_host(netloc: str, hostname: str) -> str:
    if not hostname:
        raise Refused("The URL has no host.")
    if netloc.startswith("["):
        if "%" in hostname:
            raise Refused("IPv6 zone identifiers are not allowed.")
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError as exc:
            raise Refused("The URL's IPv6 address is invalid.") from exc
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise Refused("The URL's host name is invalid.") from exc
    host = host.removesuffix(".")
    labels = host.split(".")
    if not host or len(host) > 253 or not all(LABEL.match(label) for label in labels):
        raise Refused("The URL's host name is invalid.")
    # Resolvers read "2130706433", "127.1" or "0x7f.0.0.1" as addresses; only the dotted-quad form is accepted.
    if NUMERIC_LABEL.match(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise Refused("Write IPv4 addresses as four decimal numbers (a.b.c.d).") from exc
    return host


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why webhooks may not reach this address, or None if it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6"
    checks = (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    )
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return reason
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and blocked_reason(embedded):
            return f"an IPv6 form of {blocked_reason(embedded)}"
        if ip.is_site_local:
            return "a site-local"
        if ip in IPV4_COMPATIBLE:
            return "an IPv4-compatible IPv6"
    if not ip.is_global:
        return "a non-public"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo or NAT64 address would reach."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=1)
def _resolver_pool() -> ThreadPoolExecutor:
    # getaddrinfo has no timeout of its own: a hung lookup must not hold a request or a worker slot.
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to, in the resolver's order."""
    future = _resolver_pool().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=conf.resolve_timeout_s())
    except FutureTimeout as exc:
        raise Refused(f"The host name {host} did not resolve in time.") from exc
    except (OSError, UnicodeError) as exc:
        raise Refused(f"The host name {host} does not resolve.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check(url: str) -> tuple[Target, list[IPAddress]]:
    """Parse the URL and resolve its host; refuse it unless every address is one webhooks may reach."""
    target = parse(url)
    literal = _ip_or_none(target.host)
    names = [target.host] if literal is not None else resolve(target.host, target.port)
    addresses: list[IPAddress] = []
    for name in names:
        address = _ip_or_none(name.split("%", 1)[0])
        if address is None:
            raise Refused(f"The host name {target.host} resolves to something that is not an address.")
        addresses.append(address)
    if not addresses:
        raise Refused(f"The host name {target.host} does not resolve.")
    if not target.allowlisted:
        for address in addresses:
            reason = blocked_reason(address)
            if reason:
                raise Refused(_refusal(target, reason, resolved=literal is None))
    return target, addresses


def _refusal(target: Target, reason: str, *, resolved: bool) -> str:
    # Name the category, never the address a name resolved to: internal DNS is nobody's business.
    message = f"{target.host} {'resolves to' if resolved else 'is'} {reason} address, which webhooks may not reach."
    if settings.DEBUG and reason in ("a loopback", "a private"):
        host = f"[{target.host}]" if ":" in target.host else target.host
        message += f" For a local receiver while developing, set WEBHOOK_ALLOWLIST={host}:{target.port}."
    return message


# Sending ----------------------------------------------------------------------------------------------


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by one deadline, so a slow receiver is cut off."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner, self.deadline = inner, deadline

    def _budget(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("The receiver took too long to answer.")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self._budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        budget = self._budget(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, budget), self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connect only to the addresses that were checked, whatever host the HTTP layer asks for."""

    def __init__(self, target: Target, addresses: list[IPAddress], deadline: float) -> None:
        self.target, self.addresses, self.deadline = target, addresses, deadline
        self.connected_to = ""
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self.target.host or port != self.target.port:
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}: it was not checked")
        error: Exception = httpcore.ConnectError("no address to connect to")
        for address in self.addresses:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("The receiver did not accept the connection in time.")
            budget = left if timeout is None else min(timeout, left)
            try:
                stream = self.inner.connect_tcp(str(address), port, budget, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            self.connected_to = str(address)
            return DeadlineStream(stream, self.deadline)
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to `url` after checking it; never raises for network trouble, reports it in the Answer."""
    started = time.monotonic()
    answer = Answer()
    try:
        target, addresses = check(url)
    except Refused as exc:
        answer.error = f"refused: {exc}"
        return answer
    backend = PinnedBackend(target, addresses, started + timeout)
    request_headers = [(b"Host", target.host_header.encode()), (b"Content-Type", b"application/json")]
    request_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    request_url = httpcore.URL(
        scheme=target.scheme.encode(), host=target.host.encode(), port=target.port, target=target.path.encode()
    )
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        with (
            httpcore.ConnectionPool(ssl_context=_tls_context(), network_backend=backend, retries=0) as pool,
            pool.stream(
                "POST", request_url, headers=request_headers, content=body, extensions={"timeout": limits}
            ) as response,
        ):
            answer.status = response.status
            answer.body = _read_some(response)
    except httpcore.TimeoutException:
        answer.error = f"timeout: no complete answer within {timeout:g} s"
    except httpcore.ConnectError as exc:
        answer.error = f"connection failed: {exc}" if str(exc) else "connection failed"
    except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
        answer.error = f"bad answer: {type(exc).__name__}"
    except ssl.SSLError as exc:
        answer.error = f"TLS error: {exc.reason or exc}"
    answer.address = backend.connected_to
    answer.duration_ms = int((time.monotonic() - started) * 1000)
    return answer


def _read_some(response: httpcore.Response) -> str:
    """The start of the answer, for the delivery log; the rest is never read."""
    data = b""
    try:
        for chunk in response.iter_stream():
            data += chunk
            if len(data) >= MAX_RESPONSE_BYTES:
                break
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError):
        pass  # the status line arrived: a body that trickles or breaks does not change the outcome
    return data[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
