"""Webhook signing secrets encrypted at rest (core/crypto.py): existing rows are encrypted in place."""

from django.db import migrations, models

import core.crypto


def encrypt_existing(apps, schema_editor):
    WebhookEndpoint = apps.get_model("developers", "WebhookEndpoint")
    for pk, secret, previous in WebhookEndpoint.objects.values_list("pk", "secret", "previous_secret"):
        WebhookEndpoint.objects.filter(pk=pk).update(
            secret=core.crypto.encrypt(secret) if secret else secret,
            previous_secret=core.crypto.encrypt(previous) if previous else previous,
        )


def decrypt_existing(apps, schema_editor):
    WebhookEndpoint = apps.get_model("developers", "WebhookEndpoint")
    for pk, secret, previous in WebhookEndpoint.objects.values_list("pk", "secret", "previous_secret"):
        WebhookEndpoint.objects.filter(pk=pk).update(
            secret=core.crypto.decrypt(secret) if secret else secret,
            previous_secret=core.crypto.decrypt(previous) if previous else previous,
        )


class Migration(migrations.Migration):
    dependencies = [("developers", "0003_drop_legacy_token_table")]

    operations = [
        # Plain text columns wide enough for a token first, then the rows, then the field that reads tokens.
        migrations.AlterField(model_name="webhookendpoint", name="secret", field=models.TextField()),
        migrations.AlterField(model_name="webhookendpoint", name="previous_secret", field=models.TextField(blank=True)),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AlterField(
            model_name="webhookendpoint", name="secret", field=core.crypto.EncryptedTextField()
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=core.crypto.EncryptedTextField(blank=True, help_text="Still signs until it expires."),
        ),
    ]
