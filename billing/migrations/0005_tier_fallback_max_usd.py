from decimal import Decimal

from django.db import migrations, models


def cap_free_tier(apps, schema_editor):
    """The seeded Free tier may fail over to FLUX Kontext Pro ($0.04 an image), never to a dearer fallback."""
    apps.get_model("billing", "Tier").objects.filter(slug="free", fallback_max_usd=None).update(
        fallback_max_usd=Decimal("0.05")
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_account_closing")]

    operations = [
        migrations.AddField(
            model_name="tier",
            name="fallback_max_usd",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                help_text="A fallback provider dearer than this per image is not used for this tier's jobs: they wait "
                "for the primary instead. Empty: any fallback in PROVIDER_CHAIN.",
                max_digits=8,
                null=True,
                verbose_name="fallback price cap (USD per image)",
            ),
        ),
        migrations.RunPython(cap_free_tier, migrations.RunPython.noop),
    ]
