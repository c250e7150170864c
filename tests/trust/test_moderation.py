"""Unsafe prompts cost nothing: the provider's moderation check runs before anything is reserved or sent."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from billing.models import LedgerEntry
from generation.models import Generation
from tests.support.api import client_for, upload_room
from tests.support.billing import assert_balanced

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderated(provider: Any, settings: Any) -> Any:
    """This process's requests moderated by the sandbox (what OPENAI_BASE_URL points a real deployment at)."""
    settings.OPENAI_BASE_URL = provider.api_base
    return provider


def create(client: Any, room: str, prompt: str) -> Any:
    return client.post("/api/v1/generations/", {"room": room, "style": "modern", "prompt": prompt}, format="json")


def test_a_flagged_prompt_is_refused_with_422_and_nothing_is_reserved_or_sent(moderated, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    response = create(client, room, "a living room after a massacre")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "content_policy" and error["categories"] == ["violence"]
    assert "violence" in error["message"] and "Nothing was charged" in error["message"]
    assert not Generation.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESERVE).exists()
    account = assert_balanced(alice)
    assert (account.reserved_generations, account.generations_used) == (0, 0)
    stats = moderated.stats()
    assert (stats["moderations_flagged"], stats["requests_total"]) == (1, 0), "no image call was made"


def test_a_clean_prompt_is_checked_once_and_accepted(moderated, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    assert create(client, room, "warm oak floors and linen curtains").status_code == 202
    recorded = [r for r in moderated.requests() if r["endpoint"] == "/v1/moderations"]
    assert [r["fields"] for r in recorded] == [
        {"input": "warm oak floors and linen curtains", "model": "omni-moderation-latest"}
    ]


def test_an_empty_prompt_needs_no_moderation_call(moderated, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    assert create(client, room, "").status_code == 202
    assert create(client, room, "   ").status_code == 202
    assert moderated.stats()["moderations_total"] == 0


def test_moderation_down_lets_the_request_through_by_default(moderated, alice):
    moderated.configure(outage=True)
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    assert create(client, room, "a cosy reading nook").status_code == 202


def test_moderation_down_refuses_with_503_when_set_to_fail_closed(moderated, alice, settings):
    settings.MODERATION_FAIL_CLOSED = True
    moderated.configure(outage=True)
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    response = create(client, room, "a cosy reading nook")
    assert response.status_code == 503 and response.json()["error"]["code"] == "moderation_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not Generation.objects.exists() and assert_balanced(alice).reserved_usd == 0
    assert create(client, room, "").status_code == 202, "a request without a description still works"


def test_generate_again_is_moderated_too(moderated, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    first = create(client, room, "a gallery wall").json()["id"]
    moderated.configure(flag_terms=["gallery"])
    response = client.post(f"/api/v1/generations/{first}/again/")
    assert response.status_code == 422 and response.json()["error"]["code"] == "content_policy"


def test_the_page_says_why_in_plain_words(moderated, alice):
    page = Client()
    page.force_login(alice)
    room = upload_room(client_for(alice)).json()["id"]
    form = {"style": "modern", "room_type": "living_room", "quality": "medium", "n": "1", "prompt": "nude portraits"}
    response = page.post(f"/rooms/{room}/", form)
    assert response.status_code == 422
    text = response.content.decode()
    assert "refused by our safety check" in text and "sexual content" in text and "Nothing was charged" in text
    assert not Generation.objects.exists()
