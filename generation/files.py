"""Where result images are stored: under a server-made name per generation, in the default storage."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Q

from generation.models import Generation

RESULTS = "results"


def store_images(generation: Generation, images: list[bytes]) -> list[str]:
    names = []
    for index, content in enumerate(images):
        names.append(
            default_storage.save(f"{RESULTS}/{generation.pk.hex}/{uuid.uuid4().hex}-{index}.jpg", ContentFile(content))
        )
    return names


def delete_files(names: Iterable[str]) -> None:
    """Delete the files (a missing one is no error), and a generation's results folder once it is empty."""
    for name in names:
        default_storage.delete(name)
        prune_folder(name)


def prune_folder(name: str) -> None:
    """On local storage, remove `results/<generation>/` when its last file went: no trace of the id is left."""
    try:
        folder = Path(default_storage.path(name)).parent
    except NotImplementedError:
        return  # object storage has no folders
    if folder.parent.name == RESULTS:
        with contextlib.suppress(OSError):  # not empty (another image is still there), or already gone
            folder.rmdir()


def stored_for(generation_ids: Iterable[uuid.UUID]) -> set[str]:
    """Every file in these generations' results folders, named by a row or not (a store cut short leaves some)."""
    names: set[str] = set()
    for pk in generation_ids:
        folder = f"{RESULTS}/{pk.hex}"
        try:
            _, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        names.update(f"{folder}/{name}" for name in files)
    return names


def origin_of(name: str) -> uuid.UUID | None:
    """The generation whose call produced a result file (its folder), or None for other files."""
    folder, _, rest = name.partition("/")
    try:
        return uuid.UUID(rest.split("/", 1)[0]) if folder == RESULTS and rest else None
    except ValueError:
        return None


def names_in_use(names: Iterable[str], leaving: Iterable[uuid.UUID]) -> set[str]:
    """Those of `names` that a generation outside `leaving` still shows.

    Results are shared, not copied, by the generations served from them (the result cache, jobs that waited for an
    identical one): those are marked `cached`, and point at their source until it is deleted.
    """
    wanted = set(names)
    origins = {origin for name in wanted if (origin := origin_of(name)) is not None}
    if not origins:
        return set()
    sharing = Q(pk__in=origins) | Q(cached=True, cached_from__in=origins) | Q(cached=True, cached_from__isnull=True)
    rows = Generation.objects.filter(sharing).exclude(pk__in=list(leaving)).values_list("images", flat=True)
    return {name for images in rows.iterator() for name in images if name in wanted}
