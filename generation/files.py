"""Where result images are stored: under a server-made name per generation, in the default storage."""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generation.models import Generation


def store_images(generation: Generation, images: list[bytes]) -> list[str]:
    names = []
    for index, content in enumerate(images):
        names.append(
            default_storage.save(f"results/{generation.pk.hex}/{uuid.uuid4().hex}-{index}.jpg", ContentFile(content))
        )
    return names


def delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
