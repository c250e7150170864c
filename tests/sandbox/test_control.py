"""The `/_sandbox/*` control endpoints: config, stats, recorded requests, reset."""

from __future__ import annotations

import json

import openai
import pytest

from sandbox.config import SandboxConfig
from sandbox.testing import SandboxHandle
from tests.support.http import post_raw


def generate(client: openai.OpenAI, **options: object) -> object:
    return client.images.generate(
        prompt="a room", model="dall-e-2", size="256x256", response_format="b64_json", **options
    )


def test_config_answers_every_key(sandbox: SandboxHandle) -> None:
    config = sandbox.config()

    assert set(config) >= {
        "latency_s_min", "latency_s_max", "latency_dist", "rpm", "ipm", "rate_429", "rate_500", "rate_503",
        "rate_timeout", "rate_drop", "outage", "seed", "hang_s",
    }  # fmt: skip
    assert config["seed"] == 7


def test_config_changes_a_subset_and_answers_the_whole_config(sandbox: SandboxHandle) -> None:
    config = sandbox.configure(rpm=50, rate_500=0.25, latency_dist="triangular")

    assert (config["rpm"], config["rate_500"], config["latency_dist"], config["seed"]) == (50, 0.25, "triangular", 7)
    assert sandbox.config() == config


@pytest.mark.parametrize(
    "changes",
    [
        {"colour": "red"},
        {"rate_500": 1.5},
        {"rate_drop": -0.1},
        {"rpm": -1},
        {"rpm": 2.5},
        {"outage": "yes"},
        {"latency_dist": "bimodal"},
        {"latency_s_min": 5, "latency_s_max": 1},
        {"seed": "abc"},
    ],
)
def test_config_rejects_unknown_keys_and_bad_values(sandbox: SandboxHandle, changes: dict[str, object]) -> None:
    before = sandbox.config()

    status, _, answer = post_raw(sandbox.url + "/_sandbox/config", json.dumps(changes).encode(), "application/json")

    assert status == 400
    assert answer["error"]["code"] == "invalid_config"
    assert sandbox.config() == before


def test_stats_count_every_request_by_status_and_endpoint(
    sandbox: SandboxHandle, client: openai.OpenAI, room_photo: bytes
) -> None:
    generate(client, n=2)
    client.images.edit(image=("room.png", room_photo, "image/png"), prompt="loft", output_format="jpeg")
    with pytest.raises(openai.BadRequestError):
        generate(client, n=20)
    sandbox.configure(rate_503=1.0)
    with pytest.raises(openai.InternalServerError):
        generate(client)

    stats = sandbox.stats()

    assert stats["requests_total"] == 4
    assert stats["by_status"] == {"200": 2, "400": 1, "503": 1}
    assert stats["by_endpoint"] == {"/v1/images/generations": 3, "/v1/images/edits": 1}
    assert (stats["images_total"], stats["in_flight"], stats["max_in_flight"]) == (3, 0, 1)


def test_stats_reset_zeroes_the_counters(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    generate(client)

    status, _, answer = post_raw(sandbox.url + "/_sandbox/stats/reset", b"", "application/json")

    assert status == 200
    assert answer["requests_total"] == answer["images_total"] == 0
    assert sandbox.stats()["by_status"] == {}


def test_recorded_requests_show_fields_files_and_status(
    sandbox: SandboxHandle, client: openai.OpenAI, room_photo: bytes
) -> None:
    client.images.edit(image=("room.png", room_photo, "image/png"), prompt="loft", n=2, output_format="jpeg")
    generate(client)

    edit_record, generation_record = sandbox.requests(limit=2)

    assert edit_record["endpoint"] == "/v1/images/edits"
    assert edit_record["fields"]["n"] == "2"
    assert edit_record["fields"]["image"] == {
        "filename": "room.png",
        "content_type": "image/png",
        "bytes": len(room_photo),
    }
    assert edit_record["status"] == 200
    assert edit_record["remote"] == "127.0.0.1"  # the sender, which a chaos run uses to tell its hosts apart
    assert generation_record["fields"]["model"] == "dall-e-2"
    assert "Authorization" not in json.dumps(edit_record)
    assert len(sandbox.requests(limit=1)) == 1


def test_requests_reset_clears_the_log(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    generate(client)

    post_raw(sandbox.url + "/_sandbox/requests/reset", b"", "application/json")

    assert sandbox.requests() == []


def test_reset_also_forgets_the_rate_limit_window(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    sandbox.configure(rpm=1)
    generate(client)
    with pytest.raises(openai.RateLimitError):
        generate(client)

    sandbox.reset()
    generate(client)

    assert sandbox.stats()["requests_total"] == 1


def test_the_same_seed_repeats_the_same_faults(sandbox: SandboxHandle, client: openai.OpenAI) -> None:
    def outcomes() -> list[str]:
        results = []
        for _ in range(12):
            try:
                generate(client)
                results.append("ok")
            except openai.APIStatusError as exc:
                results.append(str(exc.status_code))
        return results

    sandbox.configure(rate_500=0.5, seed=11)
    first = outcomes()
    sandbox.configure(seed=11)
    second = outcomes()

    assert first == second
    assert set(first) == {"ok", "500"}


def test_restore_undoes_every_key_a_test_changed(sandbox: SandboxHandle) -> None:
    # A test that left OpenAI in `outage_providers` once made every later stack test in the suite see 503s: the
    # `provider` fixture restores the whole config this way before each test.
    healthy = sandbox.restore(SandboxConfig(seed=7))
    sandbox.configure(outage_providers=["openai"], providers={"replicate": {"rpm": 5}}, rate_500=0.5, outage=True)

    assert sandbox.restore(SandboxConfig(seed=7)) == healthy == sandbox.config()
    assert (healthy["outage_providers"], healthy["providers"], healthy["outage"]) == ([], {}, False)
