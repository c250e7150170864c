"""Alerts before complaints: a spike against a seeded day of history raises exactly one alert, which clears."""

from __future__ import annotations

import random
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from generation.models import Generation
from ops import alerts
from ops.models import Alert, MetricSample
from tests.support.stack import Beat, stack_env
from tests.support.tools import require_tool
from tests.support.waiting import wait_for

RULES = Path(settings.BASE_DIR) / "docker" / "prometheus"
NORMAL = {  # a usual day: mean and spread of each watched figure
    "p95_generation_s": (25.0, 4.0),
    "error_rate": (0.02, 0.01),
    "provider_429_rate": (0.01, 0.005),
    "oldest_queued_s": (5.0, 2.0),
    "spend_per_hour_usd": (2.0, 0.3),
}


def seed_history(now: datetime) -> None:
    """A sample every five minutes over the last day, for every watched figure."""
    rng = random.Random(4)
    MetricSample.objects.bulk_create(
        MetricSample(metric=metric, value=max(rng.gauss(mean, spread), 0.0), at=now - timedelta(minutes=minutes))
        for metric, (mean, spread) in NORMAL.items()
        for minutes in range(5, 24 * 60, 5)
    )


def finished_jobs(user: Any, count: int, took_s: float, status: str = "succeeded") -> list[Generation]:
    """Jobs that ended in the last few minutes, each `took_s` from request to result."""
    now = timezone.now()
    rows = Generation.objects.bulk_create(
        Generation(
            owner=user,
            style="modern",
            room_type="bedroom",
            status=status,
            deadline_at=now,
            finished_at=now - timedelta(seconds=10 * index),
        )
        for index in range(count)
    )
    slow(rows, took_s)
    return rows


def slow(rows: list[Generation], took_s: float) -> None:
    for row in rows:
        Generation.objects.filter(pk=row.pk).update(created_at=row.finished_at - timedelta(seconds=took_s))


def firing_gauge(client: Any, metric: str) -> str:
    text = client.get("/metrics").content.decode()
    line = next(line for line in text.splitlines() if line.startswith(f'interiorai_alert_firing{{metric="{metric}"}}'))
    return line.split()[-1]


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    """Staff who may read /metrics and the ops page (staff status alone opens neither)."""
    user = django_user_model.objects.create_user("ops", password="x" * 12, email="ops@example.com", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_metrics", "view_ops"]))
    return user


@pytest.mark.django_db
def test_a_spike_raises_exactly_one_alert_shown_mailed_exported_and_cleared(alice, staff, client, mailoutbox):
    seed_history(timezone.now())
    spike = finished_jobs(alice, 25, took_s=240)
    client.force_login(staff)
    assert firing_gauge(client, "p95_generation_s") == "0.0"

    outcome = alerts.evaluate()

    assert outcome["p95_generation_s"] == "opened", outcome
    assert [a.metric for a in Alert.objects.all()] == ["p95_generation_s"], "exactly one alert"
    assert {k: v for k, v in outcome.items() if k != "p95_generation_s"} == {
        "error_rate": "normal",
        "provider_429_rate": "too few events",
        "oldest_queued_s": "normal",
        "spend_per_hour_usd": "normal",
    }
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ops@example.com"]
    assert "P95 generation time is 240 s" in mailoutbox[0].subject
    assert firing_gauge(client, "p95_generation_s") == "1.0"
    page = client.get("/admin/ops/").content.decode()
    assert 'data-alert="p95_generation_s"' in page and "P95 generation time" in page

    assert alerts.evaluate()["p95_generation_s"] == "firing"
    assert Alert.objects.count() == 1 and len(mailoutbox) == 1, "one alert, and one email, per incident"

    slow(spike, took_s=20)  # back to normal
    assert alerts.evaluate()["p95_generation_s"] == "cleared"
    alert = Alert.objects.get()
    assert alert.cleared_at is not None and alert.peak == 240
    assert len(mailoutbox) == 2 and mailoutbox[1].subject.startswith("[InteriorAI] Resolved: P95 generation time")
    assert firing_gauge(client, "p95_generation_s") == "0.0"
    assert 'data-alert="none"' in client.get("/admin/ops/").content.decode()
    assert MetricSample.objects.filter(metric="p95_generation_s", value=240, firing=True).exists(), (
        "the incident's samples are kept out of the baseline"
    )


@pytest.mark.django_db
def test_a_quiet_night_pages_nobody(alice, staff, mailoutbox):
    finished_jobs(alice, 5, took_s=600, status="failed")
    finished_jobs(alice, 3, took_s=900)
    assert alerts.evaluate()["error_rate"] == "too few events", "five failures are not an error rate"
    seed_history(timezone.now())
    outcome = alerts.evaluate()
    assert outcome["error_rate"] == outcome["p95_generation_s"] == "too few events"
    assert not Alert.objects.exists() and not mailoutbox


@pytest.mark.django_db
def test_without_a_days_history_there_is_no_baseline_to_alert_against(alice, staff, mailoutbox):
    finished_jobs(alice, 30, took_s=600)
    assert alerts.evaluate()["p95_generation_s"] == "normal"
    assert not Alert.objects.exists() and not mailoutbox


@pytest.mark.stack
def test_beat_evaluates_the_alerts_periodically(worker, provider, alice, tmp_path):
    seed_history(timezone.now())
    finished_jobs(alice, 25, took_s=240)
    beat = Beat(stack_env(provider, ALERTS_INTERVAL_S="1"), tmp_path / "beat.log")
    try:
        alert = wait_for(lambda: Alert.objects.filter(metric="p95_generation_s").first(), 60, 0.5, "the alert")
    finally:
        beat.stop()
    assert alert.firing and Alert.objects.count() == 1


def test_the_prometheus_rules_are_valid_and_do_what_they_say():
    promtool = require_tool("promtool", "prometheus", "the Prometheus rules tests")
    checked = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=RULES, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=RULES, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
