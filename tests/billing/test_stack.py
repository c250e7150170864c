"""Money through the real stack: a worker, the sandbox over HTTP, Redis; what the user sees matches the ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing import pricing
from billing.pricing import Usage
from billing.services import ledger_totals
from generation.models import ProviderCall
from tests.support.api import client_for, upload_room
from tests.support.billing import account_of
from tests.support.waiting import wait_final

pytestmark = pytest.mark.stack


def test_a_failed_generation_is_not_charged_and_a_success_is_charged_to_the_cent(worker, beat, provider, alice):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    good = client.post("/api/v1/generations/", {"room": room, "style": "modern", "quality": "low"}, format="json")
    bad = client.post(
        "/api/v1/generations/", {"room": room, "style": "modern", "prompt": "a FORBIDDEN design"}, format="json"
    )
    assert good.status_code == bad.status_code == 202

    failed = client.get(f"/api/v1/generations/{wait_final(bad.json()['id'], 45).pk}/").json()
    assert failed["status"] == "failed" and failed["charged"] is False and failed["cost_usd"] == "0.0000"
    assert "not charged" in failed["error"]["message"]

    done = client.get(f"/api/v1/generations/{wait_final(good.json()['id'], 45).pk}/").json()
    assert done["status"] == "succeeded" and done["charged"] is True
    # Charged what OpenAI bills: the tokens the answer reported (prompt, photo, output) at their list prices.
    call = ProviderCall.objects.get(generation_id=done["id"], outcome="success")
    tokens = Usage(**call.usage)
    assert tokens.image_input_tokens > 0 and tokens.text_input_tokens > 0 and tokens.image_output_tokens == 400
    expected = pricing.charge("openai", "gpt-image-1", "1536x1024", "low", 1, usage=tokens)
    assert Decimal(done["cost_usd"]) == call.cost_usd == expected > Decimal("0.016")  # more than the output alone

    usage = client.get("/api/v1/usage/").json()
    totals = ledger_totals(account_of(alice))
    assert usage["spend_usd"] == f"{totals['spend_usd']:.4f}" == done["cost_usd"]
    assert usage["generations_used"] == totals["generations_used"] == 1
    assert usage["reserved_usd"] == f"{totals['reserved_usd']:.4f}" == "0.0000"
