"""WebSocket events: the groups, the envelope and the one function that sends them."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from generation.models import Generation
from generation.presenter import event_payload

log = logging.getLogger(__name__)

GENERATION_UPDATE = "generation.update"
GENERATION_SNAPSHOT = "generation.snapshot"
EVENT_TYPES = (GENERATION_UPDATE, GENERATION_SNAPSHOT)
# Not an event for pages: tells every consumer of the user's group to close its socket (the account is gone).
ACCOUNT_CLOSED = "account.closed"


def group_for_user(user_id: int) -> str:
    return f"user.{user_id}"


def envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    assert event_type in EVENT_TYPES, event_type
    return {"type": event_type, "payload": payload}


def send_to_user(user_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Deliver one event to the user's open pages; at-most-once, so pages also re-sync from snapshots."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group_for_user(user_id), {"type": "deliver", "event": envelope(event_type, payload)}
        )
    except Exception:  # a lost event must never fail the job: the page re-syncs from the database
        log.warning("event not delivered user=%s type=%s", user_id, event_type, exc_info=True)


def send_on_commit(user_id: int, event_type: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: send_to_user(user_id, event_type, payload))


def publish(generation: Generation, *, on_commit: bool = True) -> None:
    """Tell the owner's open pages the job's state: once the transaction commits, or at once (progress ticks)."""
    payload = event_payload(generation)
    if on_commit:
        send_on_commit(generation.owner_id, GENERATION_UPDATE, payload)
    else:
        send_to_user(generation.owner_id, GENERATION_UPDATE, payload)


def close_sockets(user_id: int) -> None:
    """Close every open socket of the user, in whichever web process holds it (their account was deleted)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_for_user(user_id), {"type": ACCOUNT_CLOSED})
    except Exception:  # the sockets also lose their session: a reconnect is refused as anonymous
        log.warning("sockets not told to close user=%s", user_id, exc_info=True)
