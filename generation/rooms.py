"""Rooms: the photo is checked and re-encoded on the way in; deleting a room takes its photo and results with it."""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum

from billing.services import lock_account
from core.api import ApiError
from generation import privacy
from generation.images import clean_photo
from generation.models import Generation, Room

log = logging.getLogger("generation")
Status = Generation.Status
ROOM_RENDERING = (
    "The image model is already redesigning this room, so it cannot be deleted yet: the result will arrive and be "
    "charged. Delete the room once it has finished."
)


def create_room(user: Any, *, name: str, room_type: str, photo_bytes: bytes) -> Room:
    """Store a verified, re-encoded copy of the photo under a server-made name, within the plan's storage."""
    photo = clean_photo(photo_bytes)
    room = Room(
        owner=user,
        name=name,
        room_type=room_type,
        photo_sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        photo_bytes=len(photo.content),
    )
    room.photo.save("room.jpg", ContentFile(photo.content), save=False)
    try:
        with transaction.atomic():
            # The account's row is the lock: two uploads at once cannot both take the last free megabytes.
            check_storage(user, lock_account(user).tier, len(photo.content))
            room.save()
    except Exception:
        room.photo.delete(save=False)
        raise
    log.info("room created room=%s user=%s size=%sx%s", room.pk, user.pk, room.width, room.height)
    return room


def storage_used(user: Any) -> int:
    """Bytes of room photos the user keeps (results are bounded by the generation quota instead)."""
    return int(Room.objects.filter(owner=user).aggregate(total=Sum("photo_bytes"))["total"] or 0)


def check_storage(user: Any, tier: Any, adding: int) -> None:
    limit = tier.storage_limit_mb * 2**20
    used = storage_used(user)
    if used + adding > limit:
        raise ApiError(
            "storage_quota_exceeded",
            f"Your photos would take more than the {tier.name} plan's {tier.storage_limit_mb} MB; "
            "delete a room to make space.",
            413,
            used_bytes=used,
            limit_bytes=limit,
        )


def delete_room(room: Room) -> None:
    """Delete the room, its photo, and every generation made from it with its images; queued jobs are cancelled.

    As with a cancel, a job whose provider call was sent is left to finish: 409 `already_rendering`, nothing deleted.
    """
    with transaction.atomic():
        if privacy.stop_all(room.generations.filter(status__in=[Status.QUEUED, Status.RUNNING])):
            raise ApiError("already_rendering", ROOM_RENDERING, 409)
    privacy.erase_rooms([room])
    log.info("room deleted room=%s user=%s", room.pk, room.owner_id)
