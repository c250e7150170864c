"""Successful image calls through the real openai SDK: sizes, formats, derivation, determinism."""

from __future__ import annotations

import base64
import io
import urllib.request

import openai
from PIL import Image, ImageChops, ImageStat

from sandbox.testing import SandboxHandle, running_sandbox
from tests.support.images import make_room_photo


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def thumbnail(image: Image.Image, size: tuple[int, int] = (24, 18)) -> list[int]:
    return list(image.convert("L").resize(size, Image.Resampling.BOX).tobytes())


def correlation(xs: list[int], ys: list[int]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    return cov / (var_x * var_y) ** 0.5


def edit(client: openai.OpenAI, photo: bytes, prompt: str = "a japandi living room", **options: object) -> str:
    response = client.images.edit(image=("room.png", photo, "image/png"), prompt=prompt, **options)
    assert response.data
    b64 = response.data[0].b64_json
    assert b64 is not None
    return b64


def test_it_returns_an_image_of_the_requested_size(client: openai.OpenAI, room_photo: bytes) -> None:
    response = client.images.edit(
        image=("room.png", room_photo, "image/png"), prompt="scandinavian", model="gpt-image-1", size="1536x1024"
    )

    assert response.data is not None
    image = decode(response.data[0].b64_json)
    assert (image.format, image.size) == ("PNG", (1536, 1024))
    assert (response.size, response.output_format, response.background) == ("1536x1024", "png", "opaque")
    assert response.quality in ("low", "medium", "high")
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_the_image_is_derived_from_the_photo_but_restyled(client: openai.OpenAI, room_photo: bytes) -> None:
    output = decode(edit(client, room_photo, model="gpt-image-1", size="1536x1024"))
    photo = Image.open(io.BytesIO(room_photo)).convert("RGB").resize(output.size)

    assert correlation(thumbnail(output), thumbnail(photo)) > 0.8
    difference = ImageStat.Stat(ImageChops.difference(output.convert("RGB"), photo)).mean
    assert sum(difference) / 3 > 10


def test_auto_size_follows_the_photo_aspect_ratio(client: openai.OpenAI) -> None:
    portrait = make_room_photo(600, 900)

    output = decode(edit(client, portrait, model="gpt-image-1", size="auto"))

    assert output.size == (1024, 1536)


def test_same_input_prompt_and_seed_give_identical_bytes(room_photo: bytes) -> None:
    outputs = []
    for _ in range(2):
        with running_sandbox(seed=3) as handle:
            client = openai.OpenAI(api_key="sk-test", base_url=handle.api_base, max_retries=0)
            outputs.append(edit(client, room_photo, size="1024x1024", output_format="jpeg"))

    assert outputs[0] == outputs[1]


def test_different_prompts_and_seeds_give_different_images(sandbox: SandboxHandle, room_photo: bytes) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0)
    options = {"size": "1024x1024", "output_format": "jpeg"}
    first = edit(client, room_photo, "art deco lounge", **options)
    second = edit(client, room_photo, "coastal boho bedroom", **options)
    sandbox.configure(seed=99)
    reseeded = edit(client, room_photo, "art deco lounge", **options)

    assert len({first, second, reseeded}) == 3


def test_n_images_differ_from_each_other(client: openai.OpenAI, room_photo: bytes) -> None:
    response = client.images.edit(
        image=("room.png", room_photo, "image/png"), prompt="loft", n=2, size="1024x1024", output_format="jpeg"
    )

    assert response.data is not None
    assert len(response.data) == 2
    assert response.data[0].b64_json != response.data[1].b64_json


def test_it_encodes_the_requested_output_format(client: openai.OpenAI, room_photo: bytes) -> None:
    for output_format, pil_format in (("jpeg", "JPEG"), ("webp", "WEBP")):
        image = decode(edit(client, room_photo, size="1024x1024", output_format=output_format, output_compression=80))
        assert image.format == pil_format


def test_it_accepts_several_images_sent_as_a_list(client: openai.OpenAI, sandbox: SandboxHandle) -> None:
    photos = [("a.png", make_room_photo(), "image/png"), ("b.jpg", make_room_photo(image_format="JPEG"), "image/jpeg")]

    response = client.images.edit(image=photos, prompt="mid-century", size="1024x1024", output_format="jpeg")

    assert response.data is not None
    assert len(response.data) == 1
    assert "image[]" in sandbox.requests(1)[0]["fields"]


def test_a_mask_keeps_the_opaque_part_of_the_photo(client: openai.OpenAI) -> None:
    photo = make_room_photo(1024, 1024)
    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 512, 1024))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")

    response = client.images.edit(
        image=("room.png", photo, "image/png"), mask=("mask.png", buffer.getvalue(), "image/png"), prompt="industrial"
    )

    assert response.data is not None
    output = decode(response.data[0].b64_json).convert("RGB")
    original = Image.open(io.BytesIO(photo)).convert("RGB")
    diff = ImageChops.difference(output, original)
    assert ImageStat.Stat(diff.crop((0, 0, 512, 1024))).mean[0] > 10
    assert ImageStat.Stat(diff.crop((512, 0, 1024, 1024))).mean[0] < 2


def test_generations_make_an_image_from_the_prompt(client: openai.OpenAI) -> None:
    first = client.images.generate(prompt="a sunny reading nook", model="gpt-image-1", size="1024x1536")
    second = client.images.generate(prompt="a dark home cinema", model="gpt-image-1", size="1024x1536")

    assert first.data and second.data
    assert decode(first.data[0].b64_json).size == (1024, 1536)
    assert first.data[0].b64_json != second.data[0].b64_json


def test_dall_e_2_serves_urls_when_asked(client: openai.OpenAI) -> None:
    square = make_room_photo(300, 300)

    response = client.images.edit(
        image=("room.png", square, "image/png"), prompt="cosy", model="dall-e-2", size="256x256", response_format="url"
    )

    assert response.data is not None
    assert response.data[0].b64_json is None
    url = response.data[0].url
    assert url is not None
    with urllib.request.urlopen(url, timeout=5) as fetched:
        image = Image.open(io.BytesIO(fetched.read()))
    assert (image.format, image.size) == ("PNG", (256, 256))
    assert response.usage is None


def test_a_cheap_render_keeps_the_size_and_the_look(
    client: openai.OpenAI, sandbox: SandboxHandle, room_photo: bytes
) -> None:
    sandbox.configure(render_scale=4)
    try:
        output = decode(edit(client, room_photo, model="gpt-image-1", size="1536x1024"))
    finally:
        sandbox.configure(render_scale=1)
    photo = Image.open(io.BytesIO(room_photo)).convert("RGB").resize(output.size)
    assert output.size == (1536, 1024)
    assert correlation(thumbnail(output), thumbnail(photo)) > 0.8, "still the same room"
