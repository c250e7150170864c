from django.core.management.base import BaseCommand

from billing.services import seed_tiers


class Command(BaseCommand):
    help = "Create the default Free, Pro and Business tiers if they are missing."

    def handle(self, *args: object, **options: object) -> None:
        created = seed_tiers()
        self.stdout.write(f"tiers ready ({created} created)")
