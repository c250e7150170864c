"""Fetch a provider's output file with the SSRF guard's discipline: only the provider's hosts, bounded in time and size.

An asynchronous provider answers with URLs, and a URL in an answer is data from outside: it is fetched only from
the provider's API host or one of its file hosts (REPLICATE_FILE_HOSTS, e.g. `replicate.delivery` and its
subdomains), over https unless the API itself is configured over plain http (the sandbox), never following a
redirect, within PROVIDER_FILE_TIMEOUT_S for the whole download and PROVIDER_FILE_MAX_BYTES of body.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings


class DownloadRefused(Exception):
    """The output could not be fetched: a host that is not the provider's, a redirect, too big, too slow, an error."""


def allowed_hosts(api_base: str) -> tuple[set[str], bool]:
    """The hosts outputs may come from, and whether plain http is allowed (only when the API itself is http)."""
    api = urlsplit(api_base)
    hosts = {api.netloc.lower()} | {host.lower() for host in settings.REPLICATE_FILE_HOSTS}
    return hosts, api.scheme == "http"


def host_allowed(netloc: str, hosts: set[str]) -> bool:
    netloc = netloc.lower()
    bare = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    return any(netloc == host or bare == host or bare.endswith("." + host) for host in hosts if host)


def fetch(url: str, api_base: str) -> bytes:
    """The file's bytes, or DownloadRefused."""
    parts = urlsplit(url)
    hosts, http_ok = allowed_hosts(api_base)
    if parts.scheme not in (("https", "http") if http_ok else ("https",)) or parts.username or parts.password:
        raise DownloadRefused(f"output URL refused (scheme or credentials): {parts.scheme}://{parts.hostname}")
    if not host_allowed(parts.netloc, hosts):
        raise DownloadRefused(f"output URL refused: {parts.hostname} is not one of the provider's hosts")
    limit, deadline = settings.PROVIDER_FILE_MAX_BYTES, time.monotonic() + settings.PROVIDER_FILE_TIMEOUT_S
    timeout = httpx.Timeout(settings.PROVIDER_FILE_TIMEOUT_S, connect=min(5.0, settings.PROVIDER_FILE_TIMEOUT_S))
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise DownloadRefused(f"output URL answered {response.status_code}")
            if int(response.headers.get("content-length") or 0) > limit:
                raise DownloadRefused("output file larger than PROVIDER_FILE_MAX_BYTES")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise DownloadRefused("output file larger than PROVIDER_FILE_MAX_BYTES")
                if time.monotonic() > deadline:
                    raise DownloadRefused("output file took longer than PROVIDER_FILE_TIMEOUT_S")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise DownloadRefused(f"output file could not be fetched: {type(exc).__name__}") from exc
