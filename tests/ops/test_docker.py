"""The production compose file is valid and runs every role the system needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
SECRETS = {"SECRET_KEY": "test-secret", "POSTGRES_PASSWORD": "test-pg", "FLOWER_BASIC_AUTH": "ops:test"}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is installed by .ci/run (Debian's docker-compose package)"
    return subprocess.run([binary, "-f", str(COMPOSE), *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_compose_file_validates():
    result = compose("config", "-q", env={**os.environ, **SECRETS})
    assert result.returncode == 0, result.stderr


def test_it_refuses_to_start_without_its_secrets():
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = compose("config", "-q", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr or "POSTGRES_PASSWORD" in result.stderr


def test_it_has_every_role_with_flower_behind_auth_and_workers_with_events():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"web", "worker", "beat", "flower", "redis", "postgres"} <= set(services)
    worker = " ".join(services["worker"]["command"].split())
    assert " -E " in worker and "gen.priority" in worker and "gen.standard" in worker
    assert "FLOWER_BASIC_AUTH" in str(services["flower"]["environment"])
    assert "interiorai.serve" in (ROOT / "docker" / "Dockerfile").read_text()  # daphne processes on one socket


@pytest.mark.parametrize("secret", ["sk-", "whsec_", "AKIA"])
def test_no_secret_is_written_into_the_images_files(secret):
    for path in (COMPOSE, ROOT / "docker" / "Dockerfile"):
        assert secret not in path.read_text()
