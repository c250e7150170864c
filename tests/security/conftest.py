"""Fixtures of the attacker's afternoon: daphne with the settings a test needs, and a webhook receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Web, stack_env
from tests.support.webhooks import Receiver, start_receiver


@pytest.fixture
def web_with(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """daphne with extra settings in its environment (the `web` fixture's, otherwise)."""
    started: list[Web] = []

    def start(**extra: str) -> Web:
        server = Web(stack_env(provider, **extra), tmp_path / f"web{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that WEBHOOK_ALLOWLIST lets webhooks reach."""
    receiver = start_receiver(Receiver)
    settings.WEBHOOK_ALLOWLIST = [receiver.hostport]
    yield receiver
    receiver.close()
