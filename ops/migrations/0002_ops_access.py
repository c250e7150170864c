from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="OpsAccess",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [
                    ("view_metrics", "Can read /metrics and the detail of /readyz"),
                    ("view_ops", "Can see the live ops page (/admin/ops/)"),
                ],
            },
        ),
    ]
