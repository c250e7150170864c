"""An Idempotency-Key, its job and its answer commit together, so a retry can never make a second job."""

from __future__ import annotations

import pytest
from django.db import connection

from billing.models import LedgerEntry
from generation.models import Generation, IdempotencyKey
from tests.support.api import client_for, upload_room
from tests.support.concurrency import all_at_once

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL; CI runs it"
)


def post(client, room_id, key):
    return client.post(
        "/api/v1/generations/", {"room": room_id, "style": "modern"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_two_requests_with_one_key_at_once_make_one_job_and_the_same_answer(alice, transactional_db):
    room = upload_room(client_for(alice)).json()
    clients = [client_for(alice) for _ in range(6)]
    answers = all_at_once(len(clients), lambda index: post(clients[index], room["id"], "same-key"))
    assert [a.status_code for a in answers] == [202] * len(clients)
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.get("Idempotent-Replayed") == "true" for a in answers) == len(clients) - 1
    assert Generation.objects.count() == 1 and LedgerEntry.objects.filter(kind="reserve").count() == 1


def test_a_crash_before_the_answer_is_recorded_leaves_no_job_behind(alice, transactional_db, monkeypatch):
    client = client_for(alice)
    room = upload_room(client).json()

    def crash(*args, **kwargs):
        raise ConnectionError("the process died here")

    # The job was created; the process dies before the key's answer is written: the job must not survive it.
    monkeypatch.setattr(IdempotencyKey, "save", crash)
    with pytest.raises(ConnectionError):
        post(client, room["id"], "k-crash")
    assert not Generation.objects.exists() and not IdempotencyKey.objects.exists()
    assert not LedgerEntry.objects.filter(kind="reserve").exists()
    monkeypatch.undo()
    # The retry the client makes is a first request, and it goes through.
    assert post(client, room["id"], "k-crash").status_code == 202
    assert Generation.objects.count() == 1
