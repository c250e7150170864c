"""What a stolen database dump would hold: no plaintext tokens, no webhook secrets, no idempotency answers for ever."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from developers.models import ApiToken, WebhookEndpoint
from generation import services
from generation.models import IdempotencyKey
from tests.support.api import upload_room
from tests.support.webhooks import register


def raw_secrets() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, previous_secret FROM developers_webhookendpoint")
        return list(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_legacy_plaintext_token_table_is_dropped_after_its_keys_are_imported(alice):
    call_command("migrate", "developers", "0001", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)")
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            ["legacy0123456789abcdef0123456789abcdef", "2024-05-01 10:00:00", alice.pk],
        )
    call_command("migrate", "developers", verbosity=0)
    assert "authtoken_token" not in connection.introspection.table_names()
    imported = ApiToken.objects.get(user=alice, source="legacy")
    assert imported.key_hash == hashlib.sha256(b"legacy0123456789abcdef0123456789abcdef").hexdigest()


@pytest.mark.django_db
def test_an_idempotency_key_expires_after_a_day(api, alice):
    room = upload_room(api).json()["id"]
    body = {"room": room, "style": "modern"}
    first = api.post("/api/v1/generations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (
        api.post("/api/v1/generations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()["id"]
        == (first.json()["id"])
    )
    IdempotencyKey.objects.filter(key="k-1").update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    later = api.post("/api/v1/generations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert later.status_code == 202 and later.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in later


@pytest.mark.django_db
def test_expired_idempotency_keys_are_pruned(api, alice, settings):
    room = upload_room(api).json()["id"]
    for key in ("old", "new"):
        api.post("/api/v1/generations/", {"room": room, "style": "modern"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=2))
    assert services.prune_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert settings.CELERY_BEAT_SCHEDULE["idempotency-prune"]["task"] == "housekeeping.prune_idempotency_keys"


@pytest.mark.django_db
def test_webhook_secrets_are_encrypted_at_rest(api, settings):
    settings.WEBHOOK_ALLOWLIST = ["127.0.0.1:9"]
    secret = register(api, "http://127.0.0.1:9/hooks")["secret"]
    ((stored, _),) = raw_secrets()
    assert secret not in stored and "whsec_" not in stored and stored.startswith("gAAAA")
    assert WebhookEndpoint.objects.get().secret == secret


@pytest.mark.django_db
def test_the_encryption_key_rotates(api, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    settings.WEBHOOK_ALLOWLIST = ["127.0.0.1:9"]
    secret = register(api, "http://127.0.0.1:9/hooks")["secret"]
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # step 1: the new key in front; old rows still read
    assert WebhookEndpoint.objects.get().secret == secret
    call_command("rotate_encryption_keys", verbosity=0)  # step 2: every row re-encrypted with the new key
    ((stored, _),) = raw_secrets()
    assert Fernet(new.encode()).decrypt(stored.encode()).decode() == secret
    settings.FIELD_ENCRYPTION_KEYS = [new]  # step 3: the old key is gone
    assert WebhookEndpoint.objects.get().secret == secret
