"""The ops page in the admin: staff with its permission only, and its figures agree with the database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from generation.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice):
    now = timezone.now()
    rows = []
    for index, (status, _took, cost) in enumerate(
        [("succeeded", 10, "0.05"), ("succeeded", 20, "0.05"), ("succeeded", 40, "0.10"), ("failed", 5, "0")]
    ):
        rows.append(
            Generation(
                owner=alice,
                style="modern",
                room_type="bedroom",
                status=status,
                cost_usd=Decimal(cost),
                deadline_at=now,
                finished_at=now - timedelta(minutes=index),
            )
        )
    Generation.objects.bulk_create(rows)
    for row, took in zip(rows, (10, 20, 40, 5), strict=True):
        Generation.objects.filter(pk=row.pk).update(created_at=row.finished_at - timedelta(seconds=took))
    return rows


def test_staff_see_the_last_hour(client, django_user_model, history):
    ops = django_user_model.objects.create_user("ops", password="x" * 12, is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_ops"))
    client.force_login(ops)
    response = client.get("/admin/ops/")
    assert response.status_code == 200
    assert response.context["p95_s"] == pytest.approx(40.0, abs=0.5)
    assert response.context["error_rate"] == pytest.approx(0.25)
    assert response.context["spend_today"] == Decimal("0.20")
    assert response.context["depths"] == {"gen.priority": 0, "gen.standard": 0, "default": 0}
    assert "closed" in response.context["breakers"].values()
    assert b"<svg" in response.content


def test_it_is_refused_to_everyone_else(client, alice):
    assert client.get("/admin/ops/").status_code == 302
    client.force_login(alice)
    assert client.get("/admin/ops/").status_code == 302  # to the admin login, as for every admin page
