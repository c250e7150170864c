"""The sandbox as its own process: `python -m sandbox` with flags and env."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxHandle, free_port, start_sandbox_process


def test_it_runs_as_a_subprocess_configured_by_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_IPM", "7")
    monkeypatch.setenv("SANDBOX_RPM", "3")
    port = free_port()

    process = start_sandbox_process(port, rpm=50, outage=True, latency_s_min=0, latency_s_max=0.5)
    try:
        config = SandboxHandle(f"http://127.0.0.1:{port}").config()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert (config["rpm"], config["ipm"], config["outage"], config["latency_s_max"]) == (50, 7, True, 0.5)
