"""What plug-ins lend the generation domain without being imported by it (see developers/apps.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers

# (user, url) -> the stored URL of the user's active webhook endpoint that `url` names, or a ValidationError.
CallbackCheck = Callable[[Any, str], str]
_callback_check: CallbackCheck | None = None


def accept_callbacks(check: CallbackCheck) -> None:
    """Let requests name a webhook endpoint (`callback_url`) that `check` approves."""
    global _callback_check
    _callback_check = check


def callback_url(user: Any, url: str) -> str:
    if _callback_check is None:
        raise serializers.ValidationError("Webhooks are not enabled on this server.")
    return _callback_check(user, url)
