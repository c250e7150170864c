"""Drop DRF's old authtoken table once its keys were carried over (0002): it held every key in plain text."""

from django.db import migrations

LEGACY_TABLE = "authtoken_token"


def drop_legacy_table(apps, schema_editor):
    if LEGACY_TABLE in schema_editor.connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(LEGACY_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("developers", "0002_import_legacy_tokens")]

    # Not reversible: the plaintext keys must never come back (the hashed ApiTokens keep working).
    operations = [migrations.RunPython(drop_legacy_table, migrations.RunPython.noop)]
