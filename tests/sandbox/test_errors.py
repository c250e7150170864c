"""Validation, auth and content-policy errors, in OpenAI's error shape."""

from __future__ import annotations

import json

import openai
import pytest

from sandbox.testing import SandboxHandle
from tests.support.http import multipart, post_raw
from tests.support.images import make_room_photo


def edit(client: openai.OpenAI, photo: bytes, **options: object) -> object:
    return client.images.edit(image=("room.png", photo, "image/png"), **options)


@pytest.mark.parametrize(
    ("options", "param", "code"),
    [
        ({"n": 11}, "n", "integer_above_max_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"quality": "ultra"}, "quality", "invalid_value"),
        ({"size": "256x256"}, "size", "invalid_value"),
        ({"size": "auto", "model": "dall-e-2"}, "size", "invalid_value"),
        ({"output_format": "gif"}, "output_format", "invalid_value"),
        ({"output_format": "jpeg", "background": "transparent"}, "background", "invalid_value"),
        ({"response_format": "url", "model": "gpt-image-1"}, "response_format", "unsupported_parameter"),
        ({"input_fidelity": "high", "model": "gpt-image-1-mini"}, "input_fidelity", "unsupported_parameter"),
        ({"prompt": ""}, "prompt", "missing_required_parameter"),
        ({"extra_body": {"colour": "red"}}, "colour", "unknown_parameter"),
    ],
)
def test_it_rejects_invalid_edit_parameters(
    client: openai.OpenAI, room_photo: bytes, options: dict[str, object], param: str, code: str
) -> None:
    options = {"prompt": "a room", "model": "gpt-image-1", **options}

    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, room_photo, **options)

    assert (caught.value.status_code, caught.value.param, caught.value.code) == (400, param, code)
    assert caught.value.type == "invalid_request_error"
    assert caught.value.message


def test_it_rejects_invalid_generation_parameters(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a room", model="gpt-image-1", quality="hd")

    assert (caught.value.param, caught.value.code) == ("quality", "invalid_value")


def test_it_requires_an_image_for_edits(sandbox: SandboxHandle) -> None:
    body, content_type = multipart({"prompt": "a room"}, {})

    status, _, answer = post_raw(sandbox.api_base + "/images/edits", body, content_type, {"Authorization": "Bearer k"})

    assert status == 400
    assert answer["error"]["param"] == "image"
    assert set(answer["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "upload",
    [b"this is not an image", make_room_photo()[:2000]],
    ids=["not-an-image", "truncated-png"],
)
def test_it_rejects_uploads_that_are_not_complete_images(client: openai.OpenAI, upload: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, upload, prompt="a room")

    assert (caught.value.param, caught.value.code) == ("image", "invalid_image_file")


def test_dall_e_2_needs_a_square_png(client: openai.OpenAI, room_photo: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, room_photo, prompt="a room", model="dall-e-2")

    assert caught.value.code == "invalid_image_file"


def test_an_unknown_model_is_not_found(client: openai.OpenAI, room_photo: bytes) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        edit(client, room_photo, prompt="a room", model="does-not-exist")

    assert caught.value.code == "model_not_found"


def test_the_key_sk_invalid_is_rejected(sandbox: SandboxHandle, room_photo: bytes) -> None:
    client = openai.OpenAI(api_key="sk-invalid", base_url=sandbox.api_base, max_retries=0)

    with pytest.raises(openai.AuthenticationError) as caught:
        edit(client, room_photo, prompt="a room")

    assert caught.value.code == "invalid_api_key"
    assert "sk-invalid" not in caught.value.message


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Basic abc"])
def test_a_missing_or_blank_bearer_key_is_rejected(sandbox: SandboxHandle, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    body = json.dumps({"prompt": "a room"}).encode()

    status, _, answer = post_raw(sandbox.api_base + "/images/generations", body, "application/json", headers)

    assert status == 401
    assert answer["error"]["code"] == "invalid_api_key"


def test_a_forbidden_prompt_is_blocked_by_moderation(client: openai.OpenAI, room_photo: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, room_photo, prompt="a FORBIDDEN room")

    assert caught.value.code == "moderation_blocked"


def test_malformed_json_is_a_bad_request(sandbox: SandboxHandle) -> None:
    status, _, answer = post_raw(
        sandbox.api_base + "/images/generations", b"{nope", "application/json", {"Authorization": "Bearer k"}
    )

    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"


def test_other_v1_paths_answer_404_in_openai_shape(sandbox: SandboxHandle) -> None:
    status, _, answer = post_raw(sandbox.api_base + "/chat/completions", b"{}", "application/json")

    assert status == 404
    assert answer["error"]["message"] == "Invalid URL (POST /v1/chat/completions)"
    assert sandbox.stats()["by_status"] == {"404": 1}
