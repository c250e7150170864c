"""Carry keys from DRF's old authtoken table over as hashed ApiTokens, so existing API clients keep working.

The old app is no longer installed, so its table is read with plain SQL when it exists; 0003 then drops it.
"""

import hashlib
from datetime import UTC, datetime

from django.db import migrations
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"


def import_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("developers", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {LEGACY_TABLE}")  # noqa: S608 - a constant name
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        token, made = ApiToken.objects.get_or_create(
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            defaults={"user_id": user_id, "name": "api login (before named tokens)", "prefix": key[:8], "source": "legacy"},
        )
        if made:
            ApiToken.objects.filter(pk=token.pk).update(created_at=aware(created))


def aware(value):
    value = parse_datetime(value) if isinstance(value, str) else value
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # Django stores UTC
    return value


class Migration(migrations.Migration):
    dependencies = [("developers", "0001_initial")]

    operations = [migrations.RunPython(import_legacy_tokens, migrations.RunPython.noop)]
