"""Rooms, generations, provider calls and provider limits: one module each, one Django app."""

from generation.models.generations import Generation, IdempotencyKey, ProviderCall
from generation.models.limits import ProviderLimit
from generation.models.rooms import Room, room_photo_path

__all__ = ["Generation", "IdempotencyKey", "ProviderCall", "ProviderLimit", "Room", "room_photo_path"]
