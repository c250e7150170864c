"""Secrets kept encrypted at rest: Fernet tokens in the database, plain text only in memory.

The keys come from FIELD_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first). Every key in the list
decrypts and the first encrypts, so a key is rotated by putting a new one in front, re-encrypting the rows
(`manage.py rotate_encryption_keys`), then removing the old one. Without the setting, one key is derived from
SECRET_KEY, which then must not change.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@functools.lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(b"interiorai.field-encryption:" + secret_key.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes)") from exc


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(text: str) -> str:
    return cipher().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("an encrypted value matches none of FIELD_ENCRYPTION_KEYS") from exc


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token (an empty value stays empty); it cannot be searched in the database."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
