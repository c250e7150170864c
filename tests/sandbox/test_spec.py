"""Requests the SDK sends conform to the official OpenAPI spec; broken ones do not."""

from __future__ import annotations

import openai
import pytest

from sandbox.spec import validate_request
from sandbox.testing import SandboxHandle


def test_requests_the_sdk_sends_validate_against_the_spec(
    sandbox: SandboxHandle, client: openai.OpenAI, room_photo: bytes
) -> None:
    photo = ("room.png", room_photo, "image/png")
    client.images.edit(image=photo, prompt="loft", model="gpt-image-1", n=2, size="1024x1024", quality="low")
    client.images.edit(image=[photo, photo], prompt="loft", input_fidelity="high", output_format="webp")
    client.images.generate(prompt="nook", model="gpt-image-1", size="1536x1024", output_format="jpeg")
    client.images.generate(prompt="nook", model="dall-e-2", size="256x256", response_format="b64_json")

    records = sandbox.requests()

    assert [record["status"] for record in records] == [200, 200, 200, 200]
    for record in records:
        assert validate_request(record["endpoint"], record["fields"]) == []


@pytest.mark.parametrize(
    ("change", "word"),
    [({"n": "99"}, "n"), ({"quality": "ultra"}, "quality"), ({"output_compression": "lots"}, "output_compression")],
)
def test_a_broken_recorded_edit_does_not_validate(change: dict[str, str], word: str) -> None:
    fields = {"image": {"filename": "a.png", "content_type": "image/png", "bytes": 10}, "prompt": "x", **change}

    errors = validate_request("/v1/images/edits", fields)

    assert len(errors) == 1
    assert errors[0].startswith(word)


def test_an_edit_without_image_or_prompt_does_not_validate() -> None:
    errors = validate_request("/v1/images/edits", {"n": "1"})

    assert len(errors) == 2


def test_an_invalid_request_the_sdk_sent_does_not_validate(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.images.generate(prompt="nook", model="gpt-image-1", n=99)

    record = sandbox.requests(1)[0]

    assert record["status"] == 400
    assert validate_request(record["endpoint"], record["fields"]) == ["n: 99 is greater than the maximum of 10"]


def test_nulls_are_allowed_where_the_spec_says_nullable() -> None:
    assert validate_request("/v1/images/generations", {"prompt": "x", "n": None, "size": None}) == []
