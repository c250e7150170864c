"""A result the provider was paid for is delivered once: storage and database hiccups after the call never buy it
again, and trouble before the call never leaves a job stuck or the breaker's single probe held."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import OperationalError
from django.db.models.fields.files import FieldFile

from billing.models import LedgerEntry
from core.redis import redis_client
from generation import finish
from generation.models import Generation, ProviderCall
from generation.provider.client import Result, targets
from generation.provider.gates import breaker_for
from generation.runtime import leases, pipeline
from tests.support.images import room_photo
from tests.support.jobs import create, make_room

pytestmark = pytest.mark.django_db
Status = Generation.Status
WORKER = "w"


def running_call(user: Any) -> tuple[Generation, ProviderCall]:
    generation = leases.claim(str(create(user, make_room(user)).pk), WORKER)
    assert generation is not None
    return generation, leases.start_call(generation, "sandbox", "gpt-image-1")


def paid_result() -> Result:
    return Result(images=[room_photo(1536, 1024)], size="1536x1024", quality="low", request_id="req-1", headers={})


def flaky(real: Any, *errors: Exception) -> Any:
    """`real`, failing with each of `errors` in turn first."""
    pending = list(errors)

    def call(*args: Any, **kwargs: Any) -> Any:
        if pending:
            raise pending.pop(0)
        return real(*args, **kwargs)

    return call


def test_a_paid_result_survives_storage_and_database_errors_and_is_charged_once(alice, monkeypatch, transactional_db):
    generation, call = running_call(alice)
    monkeypatch.setattr(pipeline, "store_images", flaky(pipeline.store_images, OSError("S3 is down"), OSError()))
    monkeypatch.setattr(finish, "succeed", flaky(finish.succeed, OperationalError("the database went away")))
    pipeline.deliver(generation, call, targets()[0], WORKER, paid_result(), 1.0)
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED and len(generation.images) == 1
    assert ProviderCall.objects.filter(generation=generation).count() == 1
    assert ProviderCall.objects.get(generation=generation).outcome == ProviderCall.Outcome.SUCCESS
    assert LedgerEntry.objects.filter(generation=generation, kind="capture").count() == 1


def test_a_result_that_cannot_be_stored_in_time_fails_the_job_uncharged_rather_than_buying_it_again(
    alice, monkeypatch, settings, transactional_db
):
    settings.RESULT_KEEP_S = 0.5
    generation, call = running_call(alice)
    monkeypatch.setattr(pipeline, "store_images", flaky(pipeline.store_images, *[OSError("S3 is down")] * 50))
    pipeline.deliver(generation, call, targets()[0], WORKER, paid_result(), 1.0)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "result_not_stored"
    assert LedgerEntry.objects.filter(generation=generation, kind="release").count() == 1


def test_trouble_before_the_call_gives_the_job_back_and_frees_the_breakers_probe(alice, monkeypatch, settings):
    settings.BREAKER_OPEN_S, settings.BREAKER_CONSECUTIVE_FAILURES = 0.1, 1
    breaker = breaker_for(targets()[0])
    breaker.record(False, "someone")
    time.sleep(0.15)  # half-open: the next caller takes the single probe
    generation = create(alice, make_room(alice))

    def storage_hiccup(self: FieldFile, mode: str = "rb") -> Any:
        raise OSError("the photo's storage timed out")

    monkeypatch.setattr(FieldFile, "open", storage_hiccup)
    pipeline.run(str(generation.pk), WORKER)
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED and generation.stage == Generation.Stage.RETRYING
    assert not ProviderCall.objects.filter(generation=generation).exists()
    assert redis_client().get(breaker.keys[1]) is None, "the probe is free for the next job"


def test_a_job_whose_photo_is_gone_fails_at_once_without_a_call(alice):
    generation = create(alice, make_room(alice))
    generation.room.photo.delete(save=False)  # on another host's disk, or removed
    pipeline.run(str(generation.pk), WORKER)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "photo_missing"
    assert not ProviderCall.objects.filter(generation=generation).exists()
