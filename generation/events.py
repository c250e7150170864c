"""WebSocket events: the groups, the envelope, the one function that sends them, and what a page missed.

Every update of a generation carries `seq`, a number per generation that only grows (a page drops an update older
than one it has, and asks for a snapshot when it sees a gap). The last LOG_LENGTH
updates of each generation are kept in Redis for LOG_TTL_S, so a page that lost its socket and comes back with
the last `seq` it saw gets exactly what it missed, or a snapshot when some of that is no longer kept.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import transaction

from core import layer
from core.redis import as_text, redis_client
from generation.models import Generation
from generation.presenter import event_payload

log = logging.getLogger(__name__)

GENERATION_UPDATE = "generation.update"
GENERATION_SNAPSHOT = "generation.snapshot"
EVENT_TYPES = (GENERATION_UPDATE, GENERATION_SNAPSHOT)
# Not an event for pages: tells every consumer of the user's group to close its socket (the account is gone).
ACCOUNT_CLOSED = "account.closed"
LOG_LENGTH = 50
LOG_TTL_S = 3600
# Number the event and keep it: the generation's counter (started from Redis's clock in microseconds, so numbers
# keep growing even after Redis lost everything and the counter begins again), its log of "<seq>|<payload>",
# trimmed and expiring. The counter is read back as a string: Lua would print a number this large in e-notation.
RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
end
redis.call('INCR', KEYS[1])
local seq = redis.call('GET', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. '|' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""


def group_for_user(user_id: int) -> str:
    return f"user.{user_id}"


def envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    assert event_type in EVENT_TYPES, event_type
    return {"type": event_type, "payload": payload}


def log_keys(user_id: int, generation_id: object) -> list[str]:
    """The generation's counter and log; the owner's id is in the key, so a page only ever reads its own."""
    base = f"events:{user_id}:{generation_id}"
    return [f"{base}:seq", f"{base}:log"]


def send_to_user(user_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Deliver one event to the user's open pages; at-most-once, so pages also re-sync from snapshots (a lost event
    never fails the job)."""
    if not layer.group_send(group_for_user(user_id), {"type": "deliver", "event": envelope(event_type, payload)}):
        log.warning("event not delivered user=%s type=%s", user_id, event_type)


def publish(generation: Generation, *, on_commit: bool = True) -> None:
    """Tell the owner's open pages the job's state: once the transaction commits, or at once (progress ticks)."""
    payload = event_payload(generation)
    user_id = generation.owner_id
    if on_commit:
        transaction.on_commit(lambda: update(user_id, payload))
    else:
        update(user_id, payload)


def update(user_id: int, payload: dict[str, Any]) -> None:
    """Number the update, keep it for pages that reconnect, and send it to the open ones."""
    try:
        seq = redis_client().register_script(RECORD)(
            keys=log_keys(user_id, payload["id"]), args=[json.dumps(payload), LOG_LENGTH, LOG_TTL_S]
        )
        payload = {**payload, "seq": int(seq)}
    except Exception:
        log.warning("event not numbered gen=%s; pages re-sync from snapshots", payload["id"], exc_info=True)
    send_to_user(user_id, GENERATION_UPDATE, payload)


def current_seqs(user_id: int, generation_ids: list[uuid.UUID]) -> dict[str, int]:
    """The last number each generation's updates got (0 when none is kept), for snapshots."""
    if not generation_ids:
        return {}
    values = redis_client().mget([log_keys(user_id, pk)[0] for pk in generation_ids])
    return {str(pk): int(value or 0) for pk, value in zip(generation_ids, values, strict=True)}


def missed(user_id: int, generation_id: uuid.UUID, since: int) -> list[dict[str, Any]] | None:
    """The updates after `since`, oldest first; None when some of them are no longer kept (send a snapshot)."""
    seq_key, log_key = log_keys(user_id, generation_id)
    last = int(redis_client().get(seq_key) or 0)
    if last <= since:
        return []
    kept = []
    for entry in redis_client().lrange(log_key, 0, -1):
        number, _, body = as_text(entry).partition("|")
        if int(number) > since:
            kept.append({**json.loads(body), "seq": int(number)})
    if not kept or kept[0]["seq"] != since + 1:
        return None
    return kept


def close_sockets(user_id: int) -> None:
    """Close every open socket of the user, in whichever web process holds it (their account was deleted)."""
    if not layer.group_send(group_for_user(user_id), {"type": ACCOUNT_CLOSED}):
        # The sockets also lose their session: a reconnect is refused as anonymous.
        log.warning("sockets not told to close user=%s", user_id)
