"""Replicate's predictions as the sandbox keeps them: created now, finished later, readable and cancellable by id."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINAL = ("succeeded", "failed", "canceled")
KEPT = 5000  # predictions remembered; the oldest are forgotten (Replicate keeps API predictions for an hour)
ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # lower-case Crockford base32, like Replicate's 26-character ids


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(26))


def timestamp() -> str:
    """Replicate's time format: ISO 8601 in UTC with a `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Prediction:
    """One prediction and its lifecycle: starting → processing → succeeded | failed | canceled."""

    id: str
    model: str
    version: str
    input: dict[str, Any]
    origin: str  # the scheme and host the client reached us on, for `urls` and the output file's address
    status: str = "starting"
    output: Any = None
    error: str | None = None
    logs: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=timestamp)
    started_at: str | None = None
    completed_at: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def finish(self, status: str, *, output: Any = None, error: str | None = None) -> None:
        self.status, self.output, self.error = status, output, error
        self.completed_at = timestamp()
        self.done.set()

    def as_json(self) -> dict[str, Any]:
        """The body Replicate answers for a prediction (see the client's recorded cassettes)."""
        base = f"{self.origin}/v1/predictions/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": False,
            "error": self.error,
            "status": self.status,
            "created_at": self.created_at,
            "urls": {"cancel": f"{base}/cancel", "get": base, "web": f"{self.origin}/_sandbox/p/{self.id}"},
        }
        if self.started_at is not None:
            body["started_at"] = self.started_at
        if self.completed_at is not None:
            body["completed_at"] = self.completed_at
        if self.metrics:
            body["metrics"] = self.metrics
        return body


class Predictions:
    """The predictions this sandbox made, by id; the oldest are forgotten past KEPT."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, Prediction] = OrderedDict()

    def add(self, prediction: Prediction) -> None:
        self.items[prediction.id] = prediction
        while len(self.items) > KEPT:
            _, oldest = self.items.popitem(last=False)
            if oldest.task is not None and not oldest.task.done():
                oldest.task.cancel()

    def get(self, prediction_id: str) -> Prediction | None:
        return self.items.get(prediction_id)

    def clear(self) -> None:
        for prediction in self.items.values():
            if prediction.task is not None and not prediction.task.done():
                prediction.task.cancel()
        self.items.clear()
