"""Ops surfaces: a permission opens /metrics and the ops page, /readyz tells outsiders nothing, Flower stays inside."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.contrib.auth.models import Permission
from django.test import Client

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
APP_SECRETS = ("SECRET_KEY", "OPENAI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="x" * 12, is_staff=True)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_staff_status_alone_opens_neither_metrics_nor_the_ops_page(staff):
    client = logged_in(staff)
    assert client.get("/metrics").status_code == 403
    assert client.get("/admin/ops/").status_code == 403


@pytest.mark.django_db
def test_the_permissions_open_them(staff):
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_metrics", "view_ops"]))
    client = logged_in(staff)
    assert client.get("/metrics").status_code == 200
    assert client.get("/admin/ops/").status_code == 200


@pytest.mark.stack
def test_readyz_tells_outsiders_only_whether_it_is_ready(web_with, worker):
    web = web_with(METRICS_TOKEN="scrape-me")
    outsider = requests.get(f"{web.url}/readyz", timeout=10)
    assert outsider.status_code == 200 and outsider.json() == {"status": "ok"}
    insider = requests.get(f"{web.url}/readyz", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert insider.json()["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}
    metrics = requests.get(f"{web.url}/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert metrics.status_code == 200, "the metrics token still works"


@pytest.mark.django_db
def test_staff_see_readyz_detail(staff):
    assert "checks" in logged_in(staff).get("/readyz").json()


@pytest.fixture
def flower(tmp_path: Path) -> dict[str, Any]:
    docker_compose = require_tool("docker-compose", "docker-compose", "the compose file tests")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SECRET_KEY": "s", "POSTGRES_PASSWORD": "p"}
    env.update(FLOWER_BASIC_AUTH="ops:pw", OPENAI_API_KEY="sk-x", AWS_ACCESS_KEY_ID="AKIAX", AWS_SECRET_ACCESS_KEY="y")
    result = subprocess.run(
        [docker_compose, "--env-file", str(empty), "-f", str(ROOT / "docker" / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["services"]["flower"])


def test_compose_never_publishes_flower_on_a_public_address(flower):
    for port in flower.get("ports", []):
        published = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
        assert published.startswith("127.0.0.1:"), port


def test_flower_gets_only_the_broker_and_its_own_credentials(flower):
    environment = flower.get("environment") or {}
    assert set(environment) == {"FLOWER_BASIC_AUTH"}, environment
    command = flower["command"] if isinstance(flower["command"], list) else shlex.split(flower["command"])
    assert "-A" not in command, "without the app, Flower loads none of its settings"
    assert command[command.index("-b") + 1].startswith("redis://")


def test_make_run_keeps_flower_on_loopback():
    procfile = (ROOT / "scripts" / "run.sh").read_text()
    (flower_line,) = [line for line in procfile.splitlines() if line.startswith("flower:")]
    assert "--address=127.0.0.1" in flower_line
