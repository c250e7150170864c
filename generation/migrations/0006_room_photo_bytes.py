from django.db import migrations, models


def measure_photos(apps, schema_editor):
    """Rooms stored before the quota: their photo's size, read from the storage once."""
    from django.core.files.storage import default_storage

    Room = apps.get_model("generation", "Room")
    for room in Room.objects.filter(photo_bytes=0).iterator():
        try:
            size = default_storage.size(room.photo.name)
        except Exception:  # a missing file takes no space
            continue
        Room.objects.filter(pk=room.pk).update(photo_bytes=size)


class Migration(migrations.Migration):
    dependencies = [("generation", "0005_provider_limit")]

    operations = [
        migrations.AddField(
            model_name="room",
            name="photo_bytes",
            field=models.PositiveIntegerField(default=0, help_text="Size of the stored photo (the storage quota)."),
        ),
        migrations.RunPython(measure_photos, migrations.RunPython.noop),
    ]
