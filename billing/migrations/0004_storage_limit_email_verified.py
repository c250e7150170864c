from django.db import migrations, models

STORAGE_MB = {"free": 200, "pro": 5000, "business": 50000}


def set_storage_limits(apps, schema_editor):
    Tier = apps.get_model("billing", "Tier")
    for slug, megabytes in STORAGE_MB.items():
        Tier.objects.filter(slug=slug).update(storage_limit_mb=megabytes)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_tier_sizes_queues_summary")]

    operations = [
        migrations.AddField(
            model_name="tier",
            name="storage_limit_mb",
            field=models.PositiveIntegerField(default=500, help_text="Room photos kept at once, in MB."),
        ),
        migrations.AddField(
            model_name="account",
            name="email_verified",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(set_storage_limits, migrations.RunPython.noop),
    ]
