"""The production compose file resolves, with its secrets, to every role the system needs.

The assertions read the configuration docker-compose itself resolves (`docker-compose config`: anchors
merged, variables interpolated), not the file's text. Debian's docker-compose is v1 (1.29), which writes
a command as one string; v2 writes a list: both are read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
ROLES = {"web", "worker", "beat", "flower", "redis", "postgres"}
SECRETS = {"SECRET_KEY": "test-secret", "POSTGRES_PASSWORD": "test-pg", "FLOWER_BASIC_AUTH": "ops:test"}
# Secret-looking test values for optional secrets: when passed, the only such values in the resolved configuration.
PASSED = {"OPENAI_API_KEY": "sk-test-passed-in", "AWS_ACCESS_KEY_ID": "AKIATESTPASSEDIN0000"}
SECRET_LOOKING = re.compile(r"(?<![A-Za-z0-9])(?:sk-|whsec_|AKIA)[A-Za-z0-9_-]*")


@pytest.fixture(scope="module")
def docker_compose() -> str:
    return require_tool("docker-compose", "docker-compose", "the compose file tests (tests/ops/test_docker.py)")


@pytest.fixture
def compose_config(docker_compose: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`docker-compose config` with only the given env (and PATH): nothing from our shell or a docker/.env."""
    empty = tmp_path / "empty.env"
    empty.write_text("")

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker_compose, "--env-file", str(empty), "-f", str(COMPOSE), "config"],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
            timeout=60,
        )

    return run


@pytest.fixture
def services(compose_config: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    result = compose_config(**SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else command


def strings(node: Any) -> list[str]:
    """Every key and value in a parsed YAML document, as text."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in [str(key), *strings(value)]]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [str(node)]


def test_it_runs_every_role(services: dict[str, Any]) -> None:
    assert set(services) >= ROLES, sorted(services)


def test_workers_send_events_and_consume_both_generation_queues(services: dict[str, Any]) -> None:
    command = argv(services["worker"]["command"])
    assert command[:4] == ["celery", "-A", "interiorai", "worker"], command
    assert "-E" in command, command
    queues = command[command.index("-Q") + 1].split(",")
    assert {"gen.priority", "gen.standard"} <= set(queues), command


def media_mounts(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(volume, path) of each named volume a service mounts; v1 writes "src:dst:mode", v2 a mapping."""
    mounts = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume.get("target", "")
        mounts.add((source, target))
    return mounts


@pytest.mark.parametrize("role", ["web", "worker", "webhooks", "beat"])
def test_every_app_container_shares_one_media_store(services: dict[str, Any], role: str) -> None:
    # A worker stores a result and web serves it: on separate machines they must reach the same files (a shared
    # volume at MEDIA_ROOT, or one bucket), which is the layout `make chaos` runs its hosts in.
    service, web = services[role], services["web"]
    media_root = service["environment"]["MEDIA_ROOT"]
    assert media_root == web["environment"]["MEDIA_ROOT"]
    assert ("media", media_root) in media_mounts(service), service.get("volumes")
    assert service["environment"]["AWS_STORAGE_BUCKET_NAME"] == web["environment"]["AWS_STORAGE_BUCKET_NAME"]


def test_flower_is_behind_basic_auth(services: dict[str, Any]) -> None:
    environment = services["flower"]["environment"]
    assert environment["FLOWER_BASIC_AUTH"] == SECRETS["FLOWER_BASIC_AUTH"]
    assert argv(services["flower"]["command"])[3] == "flower"


def test_web_serves_with_interiorai_serve(services: dict[str, Any]) -> None:
    web = services["web"]
    # The web service sets no command, so the image's CMD runs: the one assertion made on the Dockerfile's
    # text, found through the build the resolved configuration names (compose never resolves an image's CMD).
    assert "command" not in web, web.get("command")
    dockerfile = Path(web["build"]["context"]) / web["build"]["dockerfile"]
    cmd = [line for line in dockerfile.read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmd) == 1, cmd
    assert json.loads(cmd[0].removeprefix("CMD "))[:3] == ["python", "-m", "interiorai.serve"]  # one socket


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_it_refuses_to_resolve_without_each_secret(compose_config: Callable[..., Any], secret: str) -> None:
    result = compose_config(**{k: v for k, v in SECRETS.items() if k != secret})
    assert result.returncode != 0, result.stdout
    # v1 quotes the uninterpolated mapping in its error, so the templates' own text is left out of the search.
    assert f"set {secret}" in re.sub(r"\$\{[^}]*\}", "", result.stderr), result.stderr


def secret_looking(config: str) -> set[str]:
    return {match for text in strings(yaml.safe_load(config)) for match in SECRET_LOOKING.findall(text)}


@pytest.mark.parametrize("prefix", ["sk-", "whsec_", "AKIA"])
def test_no_secret_is_written_into_the_configuration(compose_config: Callable[..., Any], prefix: str) -> None:
    # Given only the test secrets (none secret-looking), nothing secret-looking: no value or default in the file.
    result = compose_config(**SECRETS)
    assert result.returncode == 0, result.stderr
    assert not {value for value in secret_looking(result.stdout) if value.startswith(prefix)}
    # Given secret-looking optional ones too, exactly those show (and the scan sees such values).
    result = compose_config(**SECRETS, **PASSED)
    assert result.returncode == 0, result.stderr
    passed = {value for value in PASSED.values() if value.startswith(prefix)}
    assert {value for value in secret_looking(result.stdout) if value.startswith(prefix)} == passed
