"""Broken images are never delivered or charged: blank, unreadable, wrong-size or unchanged answers are failed calls."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from generation.models import Generation, ProviderCall
from generation.provider.quality import check_images
from tests.support.billing import assert_balanced
from tests.support.images import room_photo
from tests.support.jobs import submit
from tests.support.waiting import wait_final, wait_for


@dataclass
class Answer:
    images: list[bytes]


def encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def redesign(width: int = 1536, height: int = 1024) -> bytes:
    return room_photo(width, height)


@pytest.mark.parametrize(
    ("images", "code"),
    [
        ([], "image_missing"),
        ([encoded(Image.new("RGB", (1536, 1024), (200, 180, 160)))], "image_blank"),
        ([encoded(Image.new("RGB", (1536, 1024), (0, 0, 0)), "PNG")], "image_blank"),
        ([redesign()[:5000]], "image_corrupt"),
        ([b"not an image at all"], "image_corrupt"),
        ([redesign(1024, 1024)], "image_wrong_size"),
        ([redesign(), encoded(Image.new("RGB", (1536, 1024), (9, 9, 9)))], "image_blank"),
    ],
)
def test_a_broken_answer_is_named(images, code):
    failure = check_images(Answer(images), room_photo(), "1536x1024")
    assert failure is not None and failure.code == code and failure.retryable


def test_the_photo_sent_back_unchanged_is_broken():
    photo = room_photo(1536, 1024)
    failure = check_images(Answer([photo]), photo, "1536x1024")
    assert failure is not None and failure.code == "image_unchanged"


def test_a_real_redesign_passes_whatever_size_auto_chose():
    assert check_images(Answer([redesign(), redesign()]), room_photo(), "1536x1024") is None
    assert check_images(Answer([redesign(1024, 1536)]), room_photo(), "auto") is None


@pytest.mark.stack
@pytest.mark.parametrize("fault", ["rate_blank", "rate_corrupt"])
def test_a_broken_answer_is_recorded_retried_and_only_the_good_one_is_stored_and_charged(
    worker, provider, make_user, fault
):
    user = make_user("bea", tier="pro")
    provider.configure(**{fault: 1.0})
    (pk,) = submit(user, 1)
    broken = wait_for(lambda: ProviderCall.objects.filter(generation_id=pk).first(), 30, what="the first call")
    wait_for(lambda: ProviderCall.objects.get(pk=broken.pk).outcome != "in_flight", 30, what="the call to end")
    assert not Generation.objects.get(pk=pk).images, "nothing of the broken answer was stored"
    provider.configure(**{fault: 0.0})
    generation = wait_final(pk, 60)
    assert generation.status == "succeeded" and len(generation.images) == 1
    calls = list(generation.calls.order_by("attempt"))
    assert len(calls) >= 2 and calls[-1].outcome == "success"
    expected = "image_blank" if fault == "rate_blank" else "image_corrupt"
    assert {c.error_code for c in calls[:-1]} == {expected}
    assert all(c.outcome == "unknown" and c.status_code == 200 for c in calls[:-1])
    stored = [p for p in (Path(settings.MEDIA_ROOT) / "results").rglob("*") if p.is_file()]
    assert len(stored) == 1, "only the good answer's image is in storage"
    account = assert_balanced(user)
    assert account.spend_usd == generation.cost_usd == calls[-1].cost_usd, "only the good answer was charged"
    assert account.generations_used == 1


@pytest.mark.stack
def test_a_provider_that_only_sends_junk_fails_the_job_uncharged_after_its_attempts(worker_factory, provider, alice):
    worker_factory(GENERATION_MAX_ATTEMPTS="2", RETRY_BASE_S="0.1", RETRY_MAX_DELAY_S="0.3")
    provider.configure(rate_blank=1.0)
    (pk,) = submit(alice, 1)
    generation = wait_final(pk, 60)
    assert generation.status == "failed" and generation.error_code == "image_blank"
    assert "blank" in generation.error_message and "not charged" in generation.error_message
    assert generation.images == [] and generation.calls.count() == 2
    account = assert_balanced(alice)
    assert account.spend_usd == 0 and account.reserved_usd == 0 and account.generations_used == 0
