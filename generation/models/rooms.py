"""A room: the user's photo, verified and re-encoded, that every redesign starts from."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from generation.styles import ROOM_TYPES


def room_photo_path(instance: Room, filename: str) -> str:
    # Names are generated on the server: nothing from the client reaches the storage path.
    return f"rooms/{uuid.uuid4().hex}.jpg"


class Room(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=120)
    room_type = models.CharField(max_length=30, choices=ROOM_TYPES)
    photo = models.FileField(upload_to=room_photo_path, max_length=200)
    photo_sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    photo_bytes = models.PositiveIntegerField(default=0, help_text="Size of the stored photo (the storage quota).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
