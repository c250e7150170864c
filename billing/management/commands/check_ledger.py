from django.core.management.base import BaseCommand, CommandError

from billing import services
from billing.models import Account


class Command(BaseCommand):
    help = "Check that every account's figures equal the sum of its ledger; exits non-zero on any difference."

    def handle(self, *args: object, **options: object) -> None:
        checked, wrong = 0, 0
        for account in Account.objects.select_related("user").iterator(chunk_size=500):
            checked += 1
            if mismatches := services.ledger_mismatches(account):
                wrong += 1
                details = ", ".join(f"{name} row={row} ledger={ledger}" for name, (row, ledger) in mismatches.items())
                who = account.user.get_username() if account.user else f"closed account #{account.pk}"
                self.stderr.write(f"{who}: {details}")
        if wrong:
            raise CommandError(f"{wrong} of {checked} accounts disagree with their ledger")
        self.stdout.write(f"{checked} accounts agree with their ledger")
