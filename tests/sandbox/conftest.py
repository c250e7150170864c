"""Fixtures for the sandbox tests: a running sandbox, an SDK client, and a room photo."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from sandbox.testing import SandboxHandle, running_sandbox
from tests.support.images import make_room_photo


@pytest.fixture(scope="session")
def room_photo() -> bytes:
    return make_room_photo()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=7) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0, timeout=10)
