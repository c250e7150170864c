from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import services
from billing.models import Tier


class Command(BaseCommand):
    help = "Move a user to another tier: manage.py set_tier USERNAME SLUG"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("slug")

    def handle(self, *args: object, **options: str) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        if not Tier.objects.filter(slug=options["slug"]).exists():
            slugs = ", ".join(Tier.objects.values_list("slug", flat=True))
            raise CommandError(f"no tier {options['slug']!r} (tiers: {slugs})")
        account = services.set_tier(user, options["slug"])
        self.stdout.write(f"{user.username} is now on {account.tier.name}")
