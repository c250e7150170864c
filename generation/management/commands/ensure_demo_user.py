import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from billing.services import ensure_account


class Command(BaseCommand):
    help = "Create the demo user once with a random password (kept in var/demo-credentials) and say how to log in."

    def handle(self, *args: object, **options: object) -> None:
        path = Path(settings.VAR_DIR) / "demo-credentials"
        User = get_user_model()
        user = User.objects.filter(username="demo").first()
        if user is None or not path.exists():
            password = secrets.token_urlsafe(12)
            user = user or User(username="demo", email="demo@example.com")
            user.set_password(password)
            user.save()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password)
            path.chmod(0o600)
        ensure_account(user)
        self.stdout.write(f"Demo user:  demo / {path.read_text().strip()}   (password kept in {path})")
