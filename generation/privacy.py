"""The user's data is theirs: a generation, a room or the whole account erased on request, everything exported.

Erasing follows the cancel rule (generation/finish.py): a job is stopped for free until its provider call is sent;
after that it finishes and is charged, and what it made is erased once it has. Files go before the rows that name
them, so a storage outage leaves rows to retry from, never files nobody can find. Results are shared, not copied,
by the generations served from them, so a file still shown by a generation that stays is kept.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from billing import services as billing
from billing.models import Account, LedgerEntry
from core.api import ApiError
from generation import events, finish
from generation.files import delete_files, names_in_use, stored_for
from generation.models import Generation, Room

log = logging.getLogger("generation")
Status = Generation.Status
UNFINISHED = (Status.QUEUED, Status.RUNNING)
RENDERING = (
    "The image model is already redesigning this, so it cannot be deleted yet: the result will arrive and be "
    "charged. Delete it once it has finished."
)


# Stopping jobs ------------------------------------------------------------------------------------------


def stop(generation: Generation) -> bool:
    """End the job if the cancel rule allows (free, before its call is sent); True once it has ended.

    False: its provider call was sent, so it will finish and be charged. finish.cancel says so by refusing (409
    `already_rendering`), or by returning False while the job still runs.
    """
    try:
        finish.cancel(generation)
    except ApiError as exc:
        if exc.error_code != "already_rendering":
            raise
    return not Generation.objects.filter(pk=generation.pk, status__in=UNFINISHED).exists()


def stop_all(generations: Iterable[Generation]) -> list[Generation]:
    """Stop every unfinished job of `generations`; the ones still rendering, which will finish and be charged."""
    return [generation for generation in generations if generation.status in UNFINISHED and not stop(generation)]


# Erasing -----------------------------------------------------------------------------------------------


def erase_generations(ids: Iterable[uuid.UUID]) -> int:
    """Delete ended generations and their images; their ledger entries stay, no longer pointing at them."""
    ids = list(Generation.objects.filter(pk__in=list(ids), status__in=Generation.FINAL).values_list("pk", flat=True))
    if not ids:
        return 0
    # Out of the result cache first, so that nothing new is served from them while they go.
    Generation.objects.filter(pk__in=ids).update(cache_key="", cache_scope="")
    for leader_id in (
        Generation.objects.filter(cached_from_id__in=ids, status=Status.QUEUED, cached=False)
        .values_list("cached_from_id", flat=True)
        .distinct()
    ):
        finish.finish_followers(leader_id)  # jobs that waited for one of them get its images, or run on their own
    names = {
        name for images in Generation.objects.filter(pk__in=ids).values_list("images", flat=True) for name in images
    }
    names |= stored_for(ids)  # files of theirs no row names: a store cut short and retried under new names
    delete_files(sorted(names - names_in_use(names, ids)))
    deleted, _ = Generation.objects.filter(pk__in=ids).delete()
    return deleted


def delete_generation(generation: Generation) -> None:
    """Delete one generation and its images, stopping it first; 409 `already_rendering` while the model has it."""
    if not stop(generation):
        raise ApiError("already_rendering", RENDERING, 409)
    erase_generations([generation.pk])
    log.info("generation deleted gen=%s user=%s", generation.pk, generation.owner_id)


def erase_rooms(rooms: Iterable[Room]) -> None:
    """Delete rooms, their photos, and every generation made from them with its images (their jobs have ended)."""
    rooms = list(rooms)
    erase_generations(Generation.objects.filter(room__in=rooms).values_list("pk", flat=True))
    delete_files(sorted(room.photo.name for room in rooms if room.photo.name))
    Room.objects.filter(pk__in=[room.pk for room in rooms]).delete()


# The whole account -------------------------------------------------------------------------------------


def close_account(user: Any) -> bool:
    """The user deletes their account: signed out everywhere at once, then erased; True if that is done already.

    Their tokens and sessions stop working (the user is inactive), their open sockets close, their queued jobs are
    cancelled and their holds released. Anything the provider is already rendering finishes and is charged, and the
    erasure then completes in the workers' sweep (False); so does the erasure of an account too large to erase
    within a request.
    """
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        billing.mark_closing(user)
    events.close_sockets(user.pk)
    log.info("account closing user=%s", user.pk)
    return erase_account(user.pk, within_request=True)


def erase_account(user_id: int, *, within_request: bool = False) -> bool:
    """Erase a closing account's files and rows, keeping its ledger anonymised; False while a job still renders."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return True
    generations = Generation.objects.filter(owner=user)
    if stop_all(generations.filter(status__in=UNFINISHED)):
        return False  # rendering: it finishes, is charged, and the sweep erases the account afterwards
    rooms = list(Room.objects.filter(owner=user))
    files = len(rooms) + sum(len(images) for images in generations.values_list("images", flat=True))
    if within_request and files > settings.ACCOUNT_ERASE_INLINE_FILES:
        return False  # too many to delete within a request: the sweep does it
    erase_generations(generations.values_list("pk", flat=True))
    erase_rooms(rooms)
    with transaction.atomic():
        account = billing.anonymise(user)
        user.delete()  # with it go its tokens, webhook endpoints and their deliveries, idempotency keys
    log.info("account erased user=%s account=%s files=%s", user_id, getattr(account, "pk", None), files)
    return True


def erase_closing_accounts(limit: int = 5) -> int:
    """Finish the erasure of accounts whose jobs have ended since their users asked (the workers' sweep runs it)."""
    waiting = Account.objects.filter(closing_since__isnull=False, user__isnull=False).order_by("closing_since")
    done = 0
    for user_id in list(waiting.values_list("user_id", flat=True)[:limit]):
        try:
            done += erase_account(user_id)
        except Exception:  # storage or database trouble: the next sweep tries again
            log.warning("account erasure failed user=%s; retried at the next sweep", user_id, exc_info=True)
    return done


# Export ------------------------------------------------------------------------------------------------


def export_account(user: Any) -> IO[bytes]:
    """A zip of the user's photos, results, and one JSON file of their rooms, generations and ledger."""
    rooms = list(Room.objects.filter(owner=user).order_by("created_at"))
    generations = list(Generation.objects.filter(owner=user).order_by("created_at"))
    files = {room.photo.name: f"photos/{room.pk}.jpg" for room in rooms if room.photo.name}
    for generation in generations:
        files.update({name: f"results/{generation.pk}-{i}.jpg" for i, name in enumerate(generation.images)})
    archive_file = tempfile.SpooledTemporaryFile(max_size=32 * 2**20)  # noqa: SIM115 - the response closes it
    missing = []
    with zipfile.ZipFile(archive_file, "w") as archive:
        for name, path in files.items():
            try:
                with default_storage.open(name, "rb") as stored:
                    archive.writestr(path, stored.read(), compress_type=zipfile.ZIP_STORED)  # JPEGs: compressed
            except Exception:
                log.warning("export: file missing user=%s name=%s", user.pk, name)
                missing.append(path)
        data = export_data(user, rooms, generations, files, missing)
        archive.writestr("data.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2), zipfile.ZIP_DEFLATED)
    archive_file.seek(0)
    return archive_file


def export_data(
    user: Any, rooms: list[Room], generations: list[Generation], files: dict[str, str], missing: list[str]
) -> dict[str, Any]:
    ledger = LedgerEntry.objects.filter(account__user=user).order_by("created_at", "id")
    return {
        "exported_at": timezone.now(),
        "user": {"username": user.get_username(), "email": user.email, "date_joined": user.date_joined},
        "rooms": [
            {
                "id": room.pk,
                "name": room.name,
                "room_type": room.room_type,
                "width": room.width,
                "height": room.height,
                "created_at": room.created_at,
                "photo": files.get(room.photo.name or ""),
            }
            for room in rooms
        ],
        "generations": [
            {
                "id": generation.pk,
                "room": generation.room_id,
                "style": generation.style,
                "room_type": generation.room_type,
                "prompt": generation.prompt,
                "quality": generation.quality,
                "size": generation.size,
                "n": generation.n,
                "status": generation.status,
                "cost_usd": generation.cost_usd,
                "cached": generation.cached,
                "error": {"code": generation.error_code, "message": generation.error_message}
                if generation.error_code
                else None,
                "created_at": generation.created_at,
                "started_at": generation.started_at,
                "finished_at": generation.finished_at,
                "images": [files[name] for name in generation.images],
            }
            for generation in generations
        ],
        "ledger": [
            {
                "at": entry.created_at,
                "kind": entry.kind,
                "generation": entry.generation_id,
                "period_start": entry.period_start,
                "reserved_usd": entry.reserved_usd,
                "spend_usd": entry.spend_usd,
                "generations_used": entry.generations_used,
                "extra_quota": entry.extra_quota,
                "note": entry.note,
            }
            for entry in ledger
        ],
        "missing_files": missing,
    }
