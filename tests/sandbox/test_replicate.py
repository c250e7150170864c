"""The sandbox's Replicate side, through the official `replicate` client, and checked against the client's cassettes."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import replicate
import yaml
from PIL import Image
from replicate.exceptions import ReplicateError

from sandbox.testing import SandboxHandle
from tests.support.waiting import wait_for

MODEL = "black-forest-labs/flux-kontext-pro"
CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "replicate"
# Only models that stream text (the cassettes' language model) get a `stream` URL; image models have none.
STREAMING_ONLY = {".urls.stream: missing"}


@pytest.fixture
def client(sandbox: SandboxHandle) -> replicate.Client:
    return replicate.Client(api_token="r8_test", base_url=sandbox.url, timeout=httpx.Timeout(10.0))


def data_uri(photo: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(photo).decode()


def create(client: replicate.Client, photo: bytes, **input: Any) -> Any:
    values = {"prompt": "a calm modern living room", "input_image": data_uri(photo), "output_format": "jpg", **input}
    return client.models.predictions.create(model=MODEL, input=values)


def test_a_prediction_is_created_then_finishes_with_the_url_of_a_real_image(client, room_photo, sandbox):
    prediction = create(client, room_photo, aspect_ratio="3:2")
    assert prediction.status in ("starting", "processing") and prediction.output is None

    prediction.wait()

    assert prediction.status == "succeeded" and prediction.error is None
    assert prediction.metrics["image_count"] == 1 and prediction.metrics["predict_time"] >= 0
    image = Image.open(io.BytesIO(httpx.get(prediction.output).content))
    assert image.size == (1248, 832) and image.format == "JPEG"
    counters = sandbox.stats()["by_provider"]["replicate"]
    assert counters["requests_total"] == 1 and counters["predictions"]["succeeded"] == 1
    assert counters["files_total"] == 1 and counters["polls_total"] >= 1
    assert sandbox.stats()["requests_total"] == 1, "polls and downloads are not image calls"


def test_prefer_wait_answers_once_the_prediction_has_finished(client, room_photo, sandbox):
    prediction = client.models.predictions.create(
        model=MODEL, input={"prompt": "a bedroom", "input_image": data_uri(room_photo)}, wait=True
    )

    assert prediction.status == "succeeded" and prediction.output.startswith(sandbox.url)
    assert sandbox.requests()[-1]["headers"]["Prefer"] == "wait"


def test_prefer_wait_with_seconds_answers_a_running_prediction_when_they_are_up(client, room_photo, sandbox):
    sandbox.configure(latency_s_min=3, latency_s_max=3)
    prediction = client.models.predictions.create(
        model=MODEL, input={"prompt": "a bedroom", "input_image": data_uri(room_photo)}, wait=1
    )

    assert prediction.status in ("starting", "processing")
    assert client.predictions.get(prediction.id).id == prediction.id


def test_cancelling_a_running_prediction_ends_it_without_an_image(client, room_photo, sandbox):
    sandbox.configure(latency_s_min=5, latency_s_max=5)
    prediction = create(client, room_photo)

    prediction.cancel()
    prediction.reload()

    assert prediction.status == "canceled" and prediction.output is None
    stats = sandbox.stats()
    assert stats["images_total"] == 0 and stats["by_provider"]["replicate"]["predictions"]["canceled"] == 1


def test_an_unknown_prediction_and_a_bad_token_answer_problem_documents(client, sandbox, room_photo):
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("doesnotexist")
    bad = replicate.Client(api_token="r8_invalid", base_url=sandbox.url)
    with pytest.raises(ReplicateError) as refused:
        create(bad, room_photo)

    assert missing.value.status == 404
    assert (refused.value.status, refused.value.title) == (401, "Unauthenticated")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"prompt": "x", "aspect_ratio": "7:1"}, "input.aspect_ratio"),
        ({"prompt": ""}, "input.prompt"),
        ({"prompt": "x", "output_format": "gif"}, "input.output_format"),
        ({"prompt": "x", "input_image": "https://example.com/room.jpg"}, "input.input_image"),
        ({"prompt": "x", "strength": 0.4}, "input.strength"),
    ],
)
def test_inputs_outside_the_models_schema_are_refused_with_422(client, values, field):
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(model=MODEL, input=values)

    assert caught.value.status == 422 and field in caught.value.detail


def test_the_same_faults_and_limits_apply_per_provider(client, room_photo, sandbox):
    sandbox.configure(providers={"replicate": {"rpm": 1}})
    create(client, room_photo)
    with pytest.raises(ReplicateError) as throttled:
        create(client, room_photo)
    sandbox.configure(providers={"replicate": {"rate_500": 1.0}})
    failed = create(client, room_photo)
    failed.wait()
    sandbox.configure(providers={}, outage_providers=["replicate"])
    with pytest.raises(ReplicateError) as down:
        create(client, room_photo)

    assert throttled.value.status == 429
    assert failed.status == "failed" and "E001" in failed.error
    assert down.value.status == 503
    by_status = sandbox.stats()["by_provider"]["replicate"]["by_status"]
    assert by_status == {"201": 2, "429": 1, "503": 1}
    assert sandbox.stats()["by_provider"]["openai"]["requests_total"] == 0


def test_an_outage_of_one_provider_leaves_the_other_serving(room_photo, sandbox):
    sandbox.configure(outage_providers=["openai"])
    openai_client = openai.OpenAI(api_key="sk-test", base_url=sandbox.api_base, max_retries=0)
    with pytest.raises(openai.InternalServerError):
        openai_client.images.edit(model="gpt-image-1", image=("r.png", room_photo, "image/png"), prompt="x")
    prediction = create(replicate.Client(api_token="r8_test", base_url=sandbox.url), room_photo)
    prediction.wait()

    assert prediction.status == "succeeded"
    assert sandbox.config()["outage_providers"] == ["openai"]
    assert set(sandbox.stats()["by_provider"]) == {"openai", "replicate"}


# The client's recorded HTTP fixtures (tests/cassettes in replicate/replicate-python, Apache-2.0) ----------------


def recorded(name: str, method: str, path_end: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the first interaction in a cassette whose request matches."""
    interactions = yaml.safe_load((CASSETTES / name).read_text())["interactions"]
    for interaction in interactions:
        request, response = interaction["request"], interaction["response"]
        if request["method"] == method and request["uri"].endswith(path_end):
            status = response.get("status_code") or response["status"]["code"]
            body = response.get("content") or response["body"]["string"]
            return status, json.loads(body)
    raise AssertionError(f"no {method} …{path_end} in {name}")


def same_shape(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Where our answer lacks a key of the recorded one, or holds another kind of value (null matches anything)."""
    if theirs is None or ours is None or where == ".input":  # a model's inputs are its own
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: expected an object"]
        problems = [f"{where}.{key}: missing" for key in theirs if key not in ours]
        return problems + [
            p for key in theirs if key in ours for p in same_shape(ours[key], theirs[key], f"{where}.{key}")
        ]
    if isinstance(theirs, list) or isinstance(ours, list):
        return [] if isinstance(theirs, list) == isinstance(ours, list) or where.endswith("output") else [where]
    return [] if type(ours) is type(theirs) or {type(ours), type(theirs)} <= {int, float} else [f"{where}: type"]


def raw(sandbox: SandboxHandle, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    auth = {"Authorization": "Bearer r8_test", **headers}
    return httpx.request(method, sandbox.url + path, json=body, headers=auth, timeout=30)


def test_answers_have_the_shapes_the_client_recorded_from_replicate(sandbox, room_photo):
    body = {"input": {"prompt": "a room", "input_image": data_uri(room_photo)}}
    path = f"/v1/models/{MODEL}/predictions"
    created = raw(sandbox, "POST", path, body)
    waited = raw(sandbox, "POST", path, body, Prefer="wait")
    fetched = raw(sandbox, "GET", f"/v1/predictions/{waited.json()['id']}")
    sandbox.configure(latency_s_min=5, latency_s_max=5)
    running = raw(sandbox, "POST", path, body)
    # The recorded cancel is of a prediction that had started: wait until ours has too (a loaded machine is slow).
    wait_for(lambda: raw(sandbox, "GET", f"/v1/predictions/{running.json()['id']}").json()["status"] == "processing")
    cancelled = raw(sandbox, "POST", f"/v1/predictions/{running.json()['id']}/cancel")
    refused = httpx.post(sandbox.url + path, json=body, headers={"Authorization": "Bearer r8_invalid"})

    cases = [
        (created, recorded("models-predictions-create.yaml", "POST", "/predictions")),
        (waited, recorded("test_models_predictions_create_blocking__wait.yaml", "POST", "/predictions")),
        (fetched, recorded("predictions-get.yaml", "GET", "vgcm4plb7tgzlyznry5d5jkgvu")),
        (cancelled, recorded("predictions-cancel.yaml", "POST", "/cancel")),
        (refused, recorded("run__invalid-token.yaml", "POST", "/v1/predictions")),
    ]
    for ours, (status, theirs) in cases:
        assert ours.status_code == status, (ours.request.url, ours.text)
        assert set(same_shape(ours.json(), theirs)) <= STREAMING_ONLY, (ours.request.url, ours.json(), theirs)
    assert waited.headers["Preference-Applied"] == "wait"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert fetched.json()["status"] == "succeeded" and isinstance(fetched.json()["output"], str)
    assert cancelled.json()["status"] == "canceled"
