"""A worker's threads hold no database connection while their calls are in flight, and every worker sweeps.

Measured before (the multi-host issue): one worker at `-c 32` with 15-20 s calls had 75 database pool timeouts in
its log and bought 4 of its 32 results twice, because each running job held a pooled connection for its whole call.
"""

from __future__ import annotations

import pytest
from django.db import connection

from generation.models import Generation, ProviderCall
from generation.queue import messages
from tests.support.jobs import submit
from tests.support.waiting import wait_final

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the connection pool is PostgreSQL's; CI runs it"),
]


def test_sixteen_slots_share_a_pool_of_two_connections_without_a_timeout(worker_factory, provider, make_user):
    provider.configure(latency_s_min=1.5, latency_s_max=2.0)
    # A 3 s wait for a pooled connection, well inside the 8 s lease, so a renewal that times out is tried again in
    # time; a thread holding its connection through a 2 s call would keep the other 15 waiting far longer.
    worker = worker_factory(16, DB_POOL_MAX_SIZE="2", DB_POOL_MIN_SIZE="1", DB_POOL_TIMEOUT_S="3")
    users = [make_user(f"user{index}", tier="business") for index in range(4)]
    ids = [pk for user in users for pk in submit(user, 4)]
    finals = [wait_final(pk, 120) for pk in ids]
    assert [g.status for g in finals] == ["succeeded"] * 16
    assert ProviderCall.objects.count() == 16 == provider.stats()["requests_total"], "no result was bought twice"
    log = worker.log_path.read_text()
    # No step of a job failed for want of a connection. (A progress tick that waits too long for one, on a busy
    # machine, is tried again on the next tick, well inside the 8 s lease: that is allowed.)
    assert "level=error" not in log and "raised unexpected" not in log, log[-3000:]
    assert log.count("progress tick failed") <= 4, "ticks rarely wait"


def test_a_worker_sweeps_by_itself_when_no_beat_runs(worker, provider, alice, monkeypatch):
    # A job whose message never reached the broker: only the database knows it, and no beat is running.
    monkeypatch.setattr(messages, "dispatch", lambda *args, **kwargs: False)
    (lost,) = submit(alice, 1)
    monkeypatch.undo()
    assert Generation.objects.get(pk=lost).dispatched_at is None
    assert wait_final(lost, 60).status == "succeeded"
