"""`POST /v1/moderations` through the SDK: the spec's shapes, `flag_terms`, and counted apart from image calls."""

from __future__ import annotations

import json

import openai
import pytest

from sandbox.config import DEFAULT_FLAG_TERMS
from sandbox.spec import validate_request, validate_response
from sandbox.testing import SandboxHandle
from tests.support.http import post_raw


def moderate(sandbox: SandboxHandle, body: dict[str, object], key: str = "sk-test") -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {key}"}
    status, _, answer = post_raw(
        sandbox.api_base + "/moderations", json.dumps(body).encode(), "application/json", headers
    )
    return status, answer


def test_a_prompt_with_a_default_term_is_flagged_and_others_are_not(client: openai.OpenAI) -> None:
    assert "gore" in DEFAULT_FLAG_TERMS
    flagged = client.moderations.create(input="a living room covered in GORE", model="omni-moderation-latest")
    clean = client.moderations.create(input="a bright scandinavian living room with gorgeous oak floors")
    assert flagged.results[0].flagged and flagged.results[0].categories.violence_graphic
    assert not clean.results[0].flagged, "a term counts only as a whole word"
    assert clean.model == "omni-moderation-latest"


def test_flag_terms_is_a_config_key_and_replaces_the_list(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    assert sandbox.config()["flag_terms"] == list(DEFAULT_FLAG_TERMS)
    assert sandbox.configure(flag_terms=["velvet rope"])["flag_terms"] == ["velvet rope"]
    answer = client.moderations.create(input=["a velvet rope divider", "a massacre", "plain walls"])
    assert [item.flagged for item in answer.results] == [True, False, False]
    assert sandbox.stats()["moderations_flagged"] == 1


@pytest.mark.parametrize("value", ["gore", ["gore", ""], [1, 2], []])
def test_flag_terms_must_be_a_list_of_words(sandbox: SandboxHandle, value: object) -> None:
    before = sandbox.config()
    status, _, answer = post_raw(
        sandbox.url + "/_sandbox/config", json.dumps({"flag_terms": value}).encode(), "application/json"
    )
    if value == []:
        assert status == 200 and answer["flag_terms"] == []  # nothing is flagged: moderation passes everything
    else:
        assert status == 400 and answer["error"]["code"] == "invalid_config"
        assert sandbox.config() == before


def test_requests_and_answers_conform_to_the_openai_spec(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    client.moderations.create(input="a nude statue", model="omni-moderation-latest")
    for body in (
        {"input": "gore"},
        {"input": ["plain", "massacre"], "model": "text-moderation-latest"},
        {"input": [{"type": "text", "text": "gore"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
    ):
        status, answer = moderate(sandbox, body)
        assert status == 200
        assert validate_request("/v1/moderations", body) == []
        assert validate_response("/v1/moderations", answer) == [], answer
        assert any(item["flagged"] for item in answer["results"])
    recorded = [r for r in sandbox.requests() if r["endpoint"] == "/v1/moderations"]
    assert len(recorded) == 4 and validate_request("/v1/moderations", recorded[0]["fields"]) == []
    # The validator is not a rubber stamp.
    assert validate_request("/v1/moderations", {"model": "omni-moderation-latest"})
    assert validate_response("/v1/moderations", {"id": "x", "model": "m", "results": [{"flagged": True}]})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "omni-moderation-latest"}, "missing_required_parameter"),
        ({"input": 3}, "invalid_type"),
        ({"input": "x", "temperature": 1}, "unknown_parameter"),
        ({"input": [{"type": "audio", "audio": "x"}]}, "invalid_value"),
        ({"input": ["x", {"type": "text", "text": "y"}]}, "invalid_value"),
    ],
)
def test_a_request_outside_the_spec_gets_a_400(sandbox: SandboxHandle, body: dict[str, object], code: str) -> None:
    status, answer = moderate(sandbox, body)
    assert status == 400 and answer["error"]["code"] == code
    assert validate_request("/v1/moderations", body) or code == "unknown_parameter"


def test_moderation_answers_at_once_outside_limits_and_faults_but_not_in_an_outage(
    sandbox: SandboxHandle, client: openai.OpenAI
) -> None:
    sandbox.configure(rpm=1, rate_500=1.0, latency_s_min=5, latency_s_max=5)
    for _ in range(3):
        assert not client.moderations.create(input="a calm bedroom").results[0].flagged
    assert moderate(sandbox, {"input": "x"}, key="sk-invalid")[0] == 401
    sandbox.configure(outage=True)
    with pytest.raises(openai.InternalServerError):
        client.moderations.create(input="a calm bedroom")
    stats = sandbox.stats()
    assert stats["moderations_total"] == 5 and stats["by_endpoint"] == {"/v1/moderations": 5}
    assert (stats["requests_total"], stats["by_status"], stats["max_in_flight"]) == (0, {}, 0)


def test_the_image_apis_own_moderation_parameter_still_takes_its_values(client: openai.OpenAI) -> None:
    for value in ("low", "auto"):
        answer = client.images.generate(prompt="a room", model="gpt-image-1", moderation=value, quality="low", n=1)
        assert answer.data and answer.data[0].b64_json
