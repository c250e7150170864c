"""Re-encrypt every stored secret with the first of FIELD_ENCRYPTION_KEYS (the second step of a key rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from developers.models import WebhookEndpoint


class Command(BaseCommand):
    help = "Re-encrypt webhook secrets with the newest FIELD_ENCRYPTION_KEYS key; then the old key may be removed."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            rows = WebhookEndpoint.objects.select_for_update().values_list("pk", "secret", "previous_secret")
            for pk, secret, previous in rows:
                # Read through every key, written back with the first.
                WebhookEndpoint.objects.filter(pk=pk).update(secret=secret, previous_secret=previous)
                count += 1
        self.stdout.write(f"re-encrypted {count} webhook endpoint(s)")
