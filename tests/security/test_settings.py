"""Settings refuse what would weaken a deployment, and every README command works without DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from core.env import envfloat

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def plain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell as a new user has it: no DEBUG, no TESTING, no SECRET_KEY, its own var/."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "TESTING", "SECRET_KEY", "TEST_RUNNER_PID"}}
    env.update(VAR_DIR=str(tmp_path / "var"), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **extra)
    return env


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "infinity"])
def test_env_floats_refuse_nan_and_inf(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SOME_DELAY_S", value)
    with pytest.raises(ImproperlyConfigured, match="finite"):
        envfloat("SOME_DELAY_S", 1.0, minimum=0)


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["abc\n", "abc\nforged=1", "ok" * 40])
def test_request_ids_must_match_in_full(incoming: str) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_sane_request_id_is_kept() -> None:
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="req-42.a_b")["X-Request-ID"] == "req-42.a_b"


def test_testing_is_refused_outside_the_test_runner(tmp_path: Path) -> None:
    result = manage("check", env=plain_env(tmp_path, TESTING="1"))
    assert result.returncode != 0
    assert "TESTING=1 is only for the test runner" in result.stderr


def test_testing_is_refused_when_the_named_runner_is_not_an_ancestor(tmp_path: Path) -> None:
    result = manage("check", env=plain_env(tmp_path, TESTING="1", TEST_RUNNER_PID="1"))
    assert result.returncode != 0
    assert "TESTING=1 is only for the test runner" in result.stderr


def test_processes_the_test_runner_starts_may_use_testing(tmp_path: Path) -> None:
    result = manage("check", env=plain_env(tmp_path, TESTING="1", TEST_RUNNER_PID=str(os.getpid())))
    assert result.returncode == 0, result.stderr


def test_readme_commands_work_without_debug(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    for command in (["createsuperuser", "--help"], ["check"], ["migrate", "--no-input", "-v", "0"], ["seed_tiers"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, (command, result.stderr)
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0, "the local key is readable by its owner only"
    key = key_file.read_text()
    assert len(key) >= 50
    manage("check", env=env)
    assert key_file.read_text() == key, "the key is made once and kept"
