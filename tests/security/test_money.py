"""Cancel is free only until the provider call is sent; after that the result is delivered and charged."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from core.api import ApiError
from generation import finish
from generation.models import Generation, ProviderCall, Room
from generation.runtime import leases
from tests.support.api import client_for
from tests.support.billing import assert_balanced
from tests.support.jobs import create, make_room, submit
from tests.support.waiting import wait_final, wait_for

WORKER = "w"


def sent(user: Any) -> tuple[Generation, ProviderCall]:
    """A job a worker holds whose provider call has been recorded, i.e. sent."""
    generation = leases.claim(str(create(user, make_room(user)).pk), WORKER)
    assert generation is not None
    call = leases.start_call(generation, "sandbox", "gpt-image-1")
    assert call is not None
    return generation, call


@pytest.mark.django_db
def test_a_job_whose_call_was_not_sent_is_cancelled_free(alice):
    generation = leases.claim(str(create(alice, make_room(alice)).pk), WORKER)
    response = client_for(alice).post(f"/api/v1/generations/{generation.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert leases.start_call(generation, "sandbox", "gpt-image-1") is None, "no call goes out after a cancel"
    assert not ProviderCall.objects.filter(generation=generation).exists()
    assert assert_balanced(alice).reserved_usd == 0


@pytest.mark.django_db
def test_once_the_call_is_sent_cancel_answers_409_and_the_result_is_charged(alice):
    generation, _ = sent(alice)
    response = client_for(alice).post(f"/api/v1/generations/{generation.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_rendering"
    assert finish.succeed(generation, WORKER, image_names=["results/x/0.jpg"], cost=Decimal("0.011"))
    generation.refresh_from_db()
    assert (generation.status, generation.cost_usd) == ("succeeded", Decimal("0.011"))
    account = assert_balanced(alice)
    assert (account.spend_usd, account.reserved_usd) == (Decimal("0.011"), 0)


@pytest.mark.django_db
def test_a_job_whose_call_failed_and_waits_to_retry_is_cancelled_free(alice):
    generation, call = sent(alice)
    leases.finish_call(call, outcome=ProviderCall.Outcome.RETRYABLE, status_code=503, latency_s=0.1)
    assert leases.defer(generation, seconds=30, stage=Generation.Stage.RETRYING, reason="503", owner=WORKER)
    assert finish.cancel(generation)
    assert assert_balanced(alice).spend_usd == 0


@pytest.mark.django_db
def test_deleting_a_room_whose_job_is_rendering_answers_409_and_deletes_nothing(alice):
    generation, _ = sent(alice)
    response = client_for(alice).delete(f"/api/v1/rooms/{generation.room_id}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_rendering"
    assert Room.objects.filter(pk=generation.room_id).exists()
    assert Generation.objects.get(pk=generation.pk).status == "running"


@pytest.mark.django_db
def test_the_page_says_a_rendering_job_can_no_longer_be_cancelled(alice):
    generation, _ = sent(alice)
    leases.set_stage(generation, WORKER, Generation.Stage.CALLING, 10)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/generations/{generation.pk}/").content.decode()
    note = page[page.index('data-role="rendering-note"') :].split(">", 1)[0]
    assert "hidden" not in note and "can no longer be cancelled" in page
    form = page[page.index('data-role="cancel-form"') :].split(">", 1)[0]
    assert "hidden" in form, "the Cancel button is hidden once the model has the job"
    followed = client.post(f"/generations/{generation.pk}/cancel/", follow=True).content.decode()
    assert "can no longer be cancelled" in followed
    assert Generation.objects.get(pk=generation.pk).status == "running"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(8))
def test_a_cancel_and_the_workers_call_never_both_win(alice, round_):
    """Run the worker's start_call and a cancel at the same moment: exactly one of them takes effect."""
    generation = leases.claim(str(create(alice, make_room(alice)).pk), WORKER)
    assert generation is not None
    gate = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            gate.wait()
            outcome["call"] = leases.start_call(generation, "sandbox", "gpt-image-1")
        finally:
            connection.close()

    def cancel() -> None:
        try:
            gate.wait()
            outcome["cancel"] = finish.cancel(Generation.objects.get(pk=generation.pk))
        except ApiError as exc:
            outcome["cancel"] = exc.error_code
        finally:
            connection.close()

    threads = [threading.Thread(target=call), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    status = Generation.objects.get(pk=generation.pk).status
    if outcome["call"] is None:
        assert outcome["cancel"] is True and status == "cancelled"
        assert not ProviderCall.objects.filter(generation_id=generation.pk).exists()
    else:
        assert outcome["cancel"] == "already_rendering" and status == "running"


@pytest.mark.stack
def test_a_cancel_during_the_live_call_is_refused_and_the_result_is_delivered_and_charged(worker, provider, alice):
    provider.configure(latency_s_min=2, latency_s_max=2)
    client = client_for(alice)
    (job,) = submit(alice, 1)
    wait_for(lambda: ProviderCall.objects.filter(generation_id=job).exists(), 20, what="the call to be sent")
    refused = client.post(f"/api/v1/generations/{job}/cancel/")
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "already_rendering"
    final = wait_final(job)
    assert final.status == "succeeded" and final.images and final.cost_usd > 0
    account = assert_balanced(alice)
    assert account.spend_usd == final.cost_usd and account.reserved_usd == 0
