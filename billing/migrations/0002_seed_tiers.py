from django.db import migrations


def seed(apps, schema_editor):
    from billing.seed import DEFAULT_TIERS

    Tier = apps.get_model("billing", "Tier")
    # Only the fields this migration's Tier has: later migrations add (and fill) the rest.
    known = {field.name for field in Tier._meta.get_fields()}
    for spec in DEFAULT_TIERS:
        Tier.objects.get_or_create(slug=spec["slug"], defaults={k: v for k, v in spec.items() if k in known})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
