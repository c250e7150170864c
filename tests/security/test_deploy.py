"""`manage.py check --deploy` is clean with the production environment of docker/.env.example."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


def example_env(tmp_path: Path) -> Path:
    """docker/.env.example as an operator fills it in: every change-me replaced by a secret of its own."""
    lines = []
    for line in (ROOT / "docker" / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if "change-me" in value:
            value = value.replace("change-me", secrets.token_urlsafe(50))
        lines.append(f"{name}={value}" if _ else line)
    path = tmp_path / "production.env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def web_environment(tmp_path: Path) -> dict[str, str]:
    """The web container's environment, as docker-compose resolves it from the example."""
    docker_compose = require_tool("docker-compose", "docker-compose", "the compose file tests")
    result = subprocess.run(
        [
            docker_compose,
            "--env-file",
            str(example_env(tmp_path)),
            "-f",
            str(ROOT / "docker" / "compose.yaml"),
            "config",
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    environment = yaml.safe_load(result.stdout)["services"]["web"]["environment"]
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def test_the_deploy_check_is_clean_with_the_production_environment(web_environment, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path / "var"), **web_environment}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_proxy_header_is_refused_without_trusted_proxies(tmp_path):
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "TRUSTED_PROXIES": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES" in result.stderr
