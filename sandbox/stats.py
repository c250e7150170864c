"""Counters and a bounded log of recent /v1 requests, for tests and benchmarks."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

REQUEST_LOG_SIZE = 1000


@dataclass
class RequestRecord:
    """One /v1 request as the sandbox saw it; `status` stays None for drops and hangs."""

    id: int
    endpoint: str
    method: str
    content_type: str
    headers: dict[str, str]
    provider: str = "openai"
    # The sender's address: several client hosts share one sandbox, and a chaos run attributes each call to its host.
    remote: str = ""
    received_at: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    outcome: str = "pending"
    duration_s: float | None = None
    # Working state for the handler and its log line; not part of the JSON record.
    started: float = field(default_factory=time.monotonic)
    note: str = ""
    ratelimit_headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "provider": self.provider,
            "remote": self.remote,
            "method": self.method,
            "content_type": self.content_type,
            "headers": self.headers,
            "received_at": self.received_at,
            "fields": self.fields,
            "status": self.status,
            "outcome": self.outcome,
            "duration_s": self.duration_s,
        }


@dataclass
class ProviderStats:
    """One provider family's share of the counters, plus what only an asynchronous provider has (predictions)."""

    requests_total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    images_total: int = 0
    dropped_total: int = 0
    timeouts_total: int = 0
    predictions: Counter[str] = field(default_factory=Counter)  # created, succeeded, failed, canceled
    polls_total: int = 0
    files_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as JSON-ready data."""
        return {
            "requests_total": self.requests_total,
            "by_status": dict(self.by_status),
            "by_endpoint": dict(self.by_endpoint),
            "by_fault": dict(self.by_fault),
            "images_total": self.images_total,
            "dropped_total": self.dropped_total,
            "timeouts_total": self.timeouts_total,
            "predictions": dict(self.predictions),
            "polls_total": self.polls_total,
            "files_total": self.files_total,
        }


PROVIDER_FAMILIES = ("openai", "replicate")


@dataclass
class Stats:
    """Request counters; `in_flight` survives a reset because those requests are still running."""

    requests_total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    images_total: int = 0
    dropped_total: int = 0
    timeouts_total: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    # Moderation checks are free and answered at once: counted apart, so requests_total stays the image calls
    # a client must have recorded.
    moderations_total: int = 0
    moderations_flagged: int = 0
    by_provider: dict[str, ProviderStats] = field(
        default_factory=lambda: {family: ProviderStats() for family in PROVIDER_FAMILIES}
    )

    def arrive(self, endpoint: str, provider: str = "openai") -> None:
        """Count an image call the moment it arrives (an OpenAI image request, a Replicate prediction created)."""
        self.requests_total += 1
        self.by_endpoint[endpoint] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        mine = self.by_provider[provider]
        mine.requests_total += 1
        mine.by_endpoint[endpoint] += 1

    def answered(self, status: int, provider: str = "openai") -> None:
        """Count the status an image call was answered with."""
        self.by_status[str(status)] += 1
        self.by_provider[provider].by_status[str(status)] += 1

    def fault(self, kind: str, provider: str = "openai") -> None:
        """Count an injected fault or spoiled answer."""
        self.by_fault[kind] += 1
        self.by_provider[provider].by_fault[kind] += 1

    def images(self, count: int, provider: str = "openai") -> None:
        """Count images actually returned."""
        self.images_total += count
        self.by_provider[provider].images_total += count

    def dropped(self, provider: str = "openai") -> None:
        self.dropped_total += 1
        self.by_provider[provider].dropped_total += 1

    def timed_out(self, provider: str = "openai") -> None:
        self.timeouts_total += 1
        self.by_provider[provider].timeouts_total += 1

    def leave(self) -> None:
        """Note that a request finished, however it ended."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Zero every counter except the requests still in flight."""
        in_flight = self.in_flight
        for spec in dataclasses.fields(self):
            fresh = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default
            setattr(self, spec.name, fresh)
        self.in_flight = self.max_in_flight = in_flight

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as JSON-ready data."""
        return {
            "requests_total": self.requests_total,
            "by_status": dict(self.by_status),
            "by_endpoint": dict(self.by_endpoint),
            "by_fault": dict(self.by_fault),
            "images_total": self.images_total,
            "dropped_total": self.dropped_total,
            "timeouts_total": self.timeouts_total,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "moderations_total": self.moderations_total,
            "moderations_flagged": self.moderations_flagged,
            "by_provider": {family: counters.as_dict() for family, counters in self.by_provider.items()},
        }


class RequestLog:
    """The last `REQUEST_LOG_SIZE` requests, oldest first."""

    def __init__(self) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self.ids = itertools.count(1)

    def start(
        self,
        endpoint: str,
        method: str,
        content_type: str,
        headers: dict[str, str],
        provider: str = "openai",
        remote: str | None = None,
    ) -> RequestRecord:
        """Create and keep a record for a request that just arrived."""
        record = RequestRecord(next(self.ids), endpoint, method, content_type, headers, provider, remote or "")
        self.records.append(record)
        return record

    def last(self, limit: int) -> list[dict[str, Any]]:
        """Return up to `limit` most recent records, oldest first."""
        recent = list(self.records)[-limit:] if limit > 0 else []
        return [record.as_dict() for record in recent]

    def clear(self) -> None:
        """Forget all records; ids keep counting so they stay unique."""
        self.records.clear()
