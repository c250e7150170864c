"""What the storage holds: every stored name, local folder or S3 bucket, to check that a user left no trace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from generation.models import Generation, Room
from sandbox.testing import free_port


def local_names() -> set[str]:
    """Every file under MEDIA_ROOT, by its storage name."""
    root = Path(settings.MEDIA_ROOT)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def local_folders() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir()}


def names_of(user: Any) -> set[str]:
    """The storage names of the user's room photos and result images, as the database lists them."""
    photos = {room.photo.name for room in Room.objects.filter(owner=user)}
    images = {
        name for images in Generation.objects.filter(owner=user).values_list("images", flat=True) for name in images
    }
    return photos | images


def bucket_keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A local S3-compatible server (moto's), its endpoint URL while the block runs."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - Flask and every AWS mock, a second to import

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
