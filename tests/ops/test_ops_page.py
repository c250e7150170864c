"""The ops page in the admin: staff with its permission only, and its figures agree with the database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from generation.models import Generation, ProviderCall

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


def test_the_priced_cost_is_shown_next_to_what_each_provider_reported(client, django_user_model, history):
    openai_job, replicate_job = history[0], history[1]
    usage = {"text_input_tokens": 40, "image_input_tokens": 765, "image_output_tokens": 400}
    ProviderCall.objects.create(
        generation=openai_job,
        attempt=1,
        provider="openai",
        model="gpt-image-1",
        outcome="success",
        cost_usd=Decimal("0.0237"),
        usage=usage,
    )
    ProviderCall.objects.create(
        generation=replicate_job,
        attempt=1,
        provider="replicate",
        model="black-forest-labs/flux-kontext-pro",
        outcome="success",
        cost_usd=Decimal("0.04"),
        usage={"images": 1, "predict_time_s": 3.5},
    )
    ops = django_user_model.objects.create_user("ops", password="x" * 12, is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_ops"))
    client.force_login(ops)
    rows = {row.provider: row for row in client.get("/admin/ops/").context["reconciliation"]}
    assert (rows["openai"].priced_usd, rows["openai"].image_input_tokens, rows["openai"].image_output_tokens) == (
        Decimal("0.0237"),
        765,
        400,
    )
    assert (rows["replicate"].priced_usd, rows["replicate"].images, rows["replicate"].predict_time_s) == (
        Decimal("0.04"),
        1,
        3.5,
    )
