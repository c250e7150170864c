"""`rate_blank` and `rate_corrupt`: successful answers whose images are one flat colour, or do not decode."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from PIL import Image, ImageStat

from sandbox.testing import SandboxHandle
from tests.support.http import post_raw


def edit(client: openai.OpenAI, photo: bytes) -> list[bytes]:
    response = client.images.edit(
        image=("room.png", photo, "image/png"), prompt="loft", model="gpt-image-1", size="1536x1024", n=2
    )
    return [base64.b64decode(item.b64_json or "") for item in response.data or []]


def test_rate_blank_answers_flat_images_of_the_right_size(sandbox: SandboxHandle, client, room_photo) -> None:
    sandbox.configure(rate_blank=1.0)
    images = [Image.open(io.BytesIO(data)) for data in edit(client, room_photo)]
    assert [image.size for image in images] == [(1536, 1024)] * 2
    assert all(max(ImageStat.Stat(image.convert("RGB")).stddev) < 1 for image in images)
    assert sandbox.stats()["by_fault"] == {"blank": 1}


def test_rate_corrupt_answers_bytes_that_do_not_decode(sandbox: SandboxHandle, client, room_photo) -> None:
    sandbox.configure(rate_corrupt=1.0)
    for data in edit(client, room_photo):
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data)).load()
    assert sandbox.stats()["by_fault"] == {"corrupt": 1}


def test_spoiling_is_off_by_default(sandbox: SandboxHandle, client, room_photo) -> None:
    config = sandbox.config()
    assert (config["rate_blank"], config["rate_corrupt"]) == (0, 0)
    images = [Image.open(io.BytesIO(data)) for data in edit(client, room_photo)]
    assert all(max(ImageStat.Stat(image.convert("RGB")).stddev) > 10 for image in images)
    assert sandbox.stats()["by_fault"] == {}


@pytest.mark.parametrize("changes", [{"rate_blank": 1.5}, {"rate_corrupt": -0.1}, {"rate_blank": "often"}])
def test_spoil_rates_are_probabilities(sandbox: SandboxHandle, changes) -> None:
    status, _, answer = post_raw(sandbox.url + "/_sandbox/config", json.dumps(changes).encode(), "application/json")
    assert status == 400 and answer["error"]["code"] == "invalid_config"
