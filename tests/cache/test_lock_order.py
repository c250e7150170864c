"""Creating a job locks its owner's account and no other job's row, so it can never deadlock with a settlement.

A settlement locks the job's row, then the account. A create that wrote another job's row while it held the
account's lock (the sentence vector of a semantic candidate, stored for later lookups) would take them in the
opposite order.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from generation import finish, services
from generation.models import Generation
from generation.runtime import leases
from tests.support.api import client_for, upload_room

pytestmark = pytest.mark.django_db


def test_a_semantic_lookup_writes_other_jobs_vectors_only_after_the_create_commits(
    alice, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    room = upload_room(client).json()["id"]
    body = client.post(
        "/api/v1/generations/", {"room": room, "style": "modern", "prompt": "make the walls sage green"}, format="json"
    ).json()
    source = leases.claim(body["id"], "w")
    assert source is not None and finish.succeed(source, "w", image_names=["results/x/0.jpg"], cost=0)
    Generation.objects.filter(pk=source.pk).update(prompt_embedding=None)  # a candidate with no vector yet
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with CaptureQueriesContext(connection) as inside:
            twin = services.create_generation(
                alice,
                Generation.objects.get(pk=source.pk).room,
                style="modern",
                room_type="living_room",
                prompt="paint the walls sage green",
                quality="medium",
                n=1,
            )
        writes = [q["sql"] for q in inside.captured_queries if q["sql"].startswith("UPDATE")]
        assert not [sql for sql in writes if str(source.pk).replace("-", "") in sql or "prompt_embedding" in sql]
    assert twin.cached is True
    assert Generation.objects.get(pk=source.pk).prompt_embedding is not None  # stored once it committed
