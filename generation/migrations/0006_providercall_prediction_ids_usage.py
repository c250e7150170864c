from django.db import migrations, models


def sandbox_limits_are_openais(apps, schema_editor):
    """Limits set for the sandbox's stand-in are now the OpenAI family's (a generation names the family it used)."""
    ProviderLimit = apps.get_model("generation", "ProviderLimit")
    for row in ProviderLimit.objects.filter(provider="sandbox"):
        if not ProviderLimit.objects.filter(provider="openai", model=row.model).exists():
            ProviderLimit.objects.filter(pk=row.pk).update(provider="openai")


class Migration(migrations.Migration):
    dependencies = [("generation", "0005_provider_limit")]

    operations = [
        migrations.AddField(
            model_name="providercall",
            name="prediction_ids",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="providercall",
            name="usage",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="providerlimit",
            name="provider",
            field=models.CharField(
                help_text="The family: `openai` or `replicate` (also when the sandbox stands in).", max_length=40
            ),
        ),
        migrations.RunPython(sandbox_limits_are_openais, migrations.RunPython.noop),
    ]
