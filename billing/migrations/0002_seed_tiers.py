from django.db import migrations


def seed(apps, schema_editor):
    from billing.seed import DEFAULT_TIERS

    Tier = apps.get_model("billing", "Tier")
    for spec in DEFAULT_TIERS:
        Tier.objects.get_or_create(slug=spec["slug"], defaults=spec)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
