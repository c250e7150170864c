"""The OpenAPI schema: valid, complete, true to the real responses, and fuzzing the live API finds no 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from openapi_spec_validator import validate
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from developers import webhooks
from developers.tokens import create_token
from generation import rooms, services
from tests.support.images import room_photo
from tests.support.jobs import end_generation
from tests.support.stack import Web, stack_env

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = 6  # requests per operation and mode
FUZZ_BUDGET_S = 60.0  # past this, only the valid-request pass over every operation is finished
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
SEEN: dict[int, int] = {}  # status code -> count: proof the requests got past the front door


def openapi() -> dict[str, Any]:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.django_db
def test_the_schema_is_valid_openapi_and_describes_every_operation():
    schema = openapi()
    validate(schema)
    paths = schema["paths"]
    expected = {
        "/api/v1/auth/token/",
        "/api/v1/rooms/",
        "/api/v1/rooms/{id}/",
        "/api/v1/generations/",
        "/api/v1/generations/{id}/",
        "/api/v1/generations/{id}/cancel/",
        "/api/v1/usage/",
        "/api/v1/styles/",
        "/api/v1/webhook-endpoints/",
        "/api/v1/webhook-endpoints/{id}/",
        "/api/v1/webhook-endpoints/{id}/rotate-secret/",
        "/api/v1/webhook-deliveries/",
        "/api/v1/webhook-deliveries/{id}/replay/",
    }
    assert expected <= set(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert operation.get("summary") or operation.get("description"), where
            assert any(status.startswith("2") or status == "302" for status in responses), where
            assert {"429", "503"} <= set(responses), where
            assert "Retry-After" in responses["429"]["headers"], where
            if operation.get("security") != [{}]:
                assert "401" in responses, where
            if "{id}" in path:
                assert "404" in responses, where
                assert next(p for p in operation["parameters"] if p["name"] == "id")["schema"]["format"] == "uuid"
            if method == "post":
                assert "400" in responses, where
            error = responses["429"]["content"]["application/json"]
            assert error["schema"] == {"$ref": "#/components/schemas/Error"} and error["examples"], where
    created = paths["/api/v1/generations/"]["post"]
    assert {"402", "404", "409", "422"} <= set(created["responses"])
    assert "callback_url" in schema["components"]["schemas"]["GenerationCreateRequest"]["properties"]
    assert created["responses"]["202"]["content"]["application/json"]["examples"]
    webhook = paths["/api/v1/webhook-endpoints/"]["post"]["responses"]["201"]["content"]["application/json"]
    assert "secret" in schema["components"]["schemas"]["WebhookEndpointSecret"]["properties"]
    assert webhook["examples"]
    assert {"tokenAuth", "bearerAuth"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.django_db
def test_the_docs_page_is_served():
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200 and "swagger" in page.content.decode().lower()


@pytest.mark.stack
def test_real_responses_match_the_schema(web_for_hooks, hook_worker, make_user, receiver):
    """Walk the API as a client would, and check every answer (errors included) against the schema."""
    web = web_for_hooks
    make_user("val")
    schema = schemathesis.openapi.from_url(f"{web.url}/api/schema/")
    session = requests.Session()
    checked: list[str] = []

    def call(method: str, template: str, expect: int | tuple[int, ...], path: str | None = None, **kwargs: Any) -> Any:
        response = session.request(method, web.url + (path or template), timeout=30, **kwargs)
        allowed = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in allowed, (method, path or template, response.status_code, response.text)
        expect = response.status_code
        operation = schema.find_operation_by_path(method, template)
        assert operation is not None, template
        operation.validate_response(response)
        checked.append(f"{method} {template} {expect}")
        return response.json() if response.content and "json" in response.headers["Content-Type"] else None

    call("POST", "/api/v1/auth/token/", 400, json={"username": "val", "password": "nope"})
    token = call("POST", "/api/v1/auth/token/", 200, json={"username": "val", "password": "correct horse battery"})
    call("GET", "/api/v1/usage/", 401)
    session.headers["Authorization"] = f"Token {token['token']}"
    call("GET", "/api/v1/styles/", 200)
    call("GET", "/api/v1/usage/", 200)
    room = call(
        "POST",
        "/api/v1/rooms/",
        201,
        files={"photo": ("r.jpg", room_photo(), "image/jpeg")},
        data={"room_type": "bedroom"},
    )
    call("POST", "/api/v1/rooms/", 400, files={"photo": ("r.jpg", b"junk", "image/jpeg")}, data={"room_type": "x"})
    call("GET", "/api/v1/rooms/", 200)
    call("GET", "/api/v1/rooms/{id}/", 200, f"/api/v1/rooms/{room['id']}/")
    call("GET", "/api/v1/rooms/{id}/", 404, "/api/v1/rooms/00000000-0000-0000-0000-000000000000/")
    endpoint = call("POST", "/api/v1/webhook-endpoints/", 201, json={"url": receiver.url})
    call("POST", "/api/v1/webhook-endpoints/", 400, json={"url": "http://169.254.169.254/"})
    call("GET", "/api/v1/webhook-endpoints/", 200)
    call("GET", "/api/v1/webhook-endpoints/{id}/", 200, f"/api/v1/webhook-endpoints/{endpoint['id']}/")
    call("POST", "/api/v1/webhook-endpoints/{id}/disable/", 200, f"/api/v1/webhook-endpoints/{endpoint['id']}/disable/")
    call("POST", "/api/v1/webhook-endpoints/{id}/enable/", 200, f"/api/v1/webhook-endpoints/{endpoint['id']}/enable/")
    rotate = f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret/"
    call("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret/", 200, rotate)

    created = call("POST", "/api/v1/generations/", 202, json={"room": room["id"], "style": "modern"})
    call("POST", "/api/v1/generations/", 400, json={"room": room["id"], "style": "nope"})
    call("POST", "/api/v1/generations/", 404, json={"room": "00000000-0000-0000-0000-000000000000", "style": "modern"})
    url = f"/api/v1/generations/{created['id']}/"
    deadline = time.monotonic() + 60
    while call("GET", "/api/v1/generations/{id}/", 200, url)["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    done = call("GET", "/api/v1/generations/{id}/", 200, url)
    assert done["status"] == "succeeded"
    call("GET", "/api/v1/generations/", 200)
    call("GET", "/api/v1/generations/", 404, params={"page": 99})
    call("POST", "/api/v1/generations/{id}/cancel/", 409, f"{url}cancel/")
    again = call("POST", "/api/v1/generations/{id}/again/", 202, f"{url}again/")
    # Free while queued; 409 already_rendering if the worker has already sent its call.
    call("POST", "/api/v1/generations/{id}/cancel/", (200, 409), f"/api/v1/generations/{again['id']}/cancel/")
    call("GET", "/media/generations/{id}/{index}/", 200, done["images"][0])

    receiver.wait_for(1, timeout=30)
    deliveries = call("GET", "/api/v1/webhook-deliveries/", 200)["results"]
    assert deliveries
    delivery = f"/api/v1/webhook-deliveries/{deliveries[-1]['id']}/"
    call("GET", "/api/v1/webhook-deliveries/{id}/", 200, delivery)
    time.sleep(0.5)
    call("POST", "/api/v1/webhook-deliveries/{id}/replay/", 202, f"{delivery}replay/")
    call("DELETE", "/api/v1/webhook-endpoints/{id}/", 204, f"/api/v1/webhook-endpoints/{endpoint['id']}/")
    call("DELETE", "/api/v1/rooms/{id}/", 204, f"/api/v1/rooms/{room['id']}/")
    assert len(checked) > 30


@pytest.fixture
def unthrottled_web(transactional_db: None, provider: Any, tmp_path: Path) -> Iterator[Web]:
    """daphne with throttles high enough that the fuzzer's burst is not answered 429 throughout."""
    env = stack_env(provider, API_THROTTLE_USER="100000/min", API_THROTTLE_TOKEN="100000/min")
    server = Web(env, tmp_path / "web.log")
    yield server
    server.stop()


@pytest.mark.stack
def test_fuzzing_the_live_api_finds_no_server_error(unthrottled_web, make_user):
    """Property-based requests, valid and invalid, to every operation; with real ids where an id is asked for."""
    web = unthrottled_web
    user = make_user("fuzzer", tier="pro")
    _, key = create_token(user, "fuzz")
    other = make_user("other")
    ids = seed(user, other)
    schema = schemathesis.openapi.from_url(f"{web.url}/api/schema/")
    headers = {"Authorization": f"Token {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Valid requests to every operation first, then valid ones aimed at real objects, then invalid ones.
    runs: list[tuple[Any, Any, dict[str, Any] | None]] = [(o, POSITIVE, None) for o in operations]
    runs += [(o, POSITIVE, {"id": real_id_for(o, ids)}) for o in operations if real_id_for(o, ids)]
    runs += [(o, NEGATIVE, None) for o in operations]
    started, ran = time.monotonic(), 0
    for index, (operation, mode, path_parameters) in enumerate(runs):
        if index >= len(operations) and time.monotonic() - started > FUZZ_BUDGET_S:
            break  # a slow (shared) machine: every operation has had its valid requests at least
        try:
            fuzz(operation, mode, path_parameters, web.url, headers)
        except hypothesis.errors.Unsatisfiable:
            assert mode == NEGATIVE, operation.label  # an operation without inputs has no invalid ones
        ran += 1
    assert ran >= len(operations) > 20
    assert {200, 400, 404} <= set(SEEN), SEEN


def real_id_for(operation: Any, ids: dict[str, str]) -> str | None:
    if "{id}" not in operation.path or operation.method.upper() == "DELETE":
        return None
    return ids.get(operation.path.split("/")[3])


def seed(user: Any, other: Any) -> dict[str, str]:
    """A room, a generation and a webhook delivery of the fuzzer's, and a room of someone else's."""
    room = rooms.create_room(user, name="seed", room_type="kitchen", photo_bytes=room_photo())
    rooms.create_room(other, name="not yours", room_type="kitchen", photo_bytes=room_photo())
    generation = services.create_generation(
        user, room, style="modern", room_type="kitchen", prompt="", quality="medium", n=1
    )
    endpoint = webhooks.create_endpoint(user, "https://hooks.example.com/in")
    end_generation(str(generation.pk))
    delivery = endpoint.deliveries.get()
    return {
        "rooms": str(room.pk),
        "generations": str(generation.pk),
        "webhook-endpoints": str(endpoint.pk),
        "webhook-deliveries": str(delivery.pk),
    }


def is_outage(response: Any) -> bool:
    """A 503 that says a dependency is down, with Retry-After: the promised answer to an outage, not a bug."""
    if response.status_code != 503 or "Retry-After" not in response.headers:
        return False
    return bool(response.json()["error"]["code"] == "service_unavailable")


def fuzz(operation: Any, mode: Any, path_parameters: dict[str, Any] | None, base_url: str, headers: dict) -> None:
    """Send EXAMPLES generated requests to one operation and check what comes back."""

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=20)
        SEEN[response.status_code] = SEEN.get(response.status_code, 0) + 1
        if is_outage(response):
            return  # the machine's Postgres or Redis is overloaded (tests share them): the documented 503
        case.validate_response(response, checks=CHECKS if mode == "positive" else [not_a_server_error])

    run()
