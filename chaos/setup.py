"""Prepare the chaos database: migrate, seed tiers, and make the run's users with API tokens.

Run with the cluster's environment: `python -m chaos.setup --out users.json NAME...`. Quotas, budgets and in-flight
caps are lifted in this database only, so billing never refuses a scenario's load (it has its own tests).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interiorai.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("users", nargs="+")
    args = parser.parse_args()
    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from billing.models import Tier
    from billing.services import ensure_account, seed_tiers, set_tier
    from developers.tokens import create_token

    call_command("migrate", "--no-input", verbosity=0)
    seed_tiers()
    Tier.objects.update(monthly_quota=1_000_000, monthly_budget_usd=100_000, max_in_flight=1000)
    tokens = {}
    with transaction.atomic():
        for name in args.users:
            user = get_user_model()(username=name, email=f"{name}@chaos.invalid")
            user.set_unusable_password()
            user.save()
            ensure_account(user)
            set_tier(user, "pro")
            tokens[name] = create_token(user, "chaos")[1]
    args.out.write_text(json.dumps(tokens))


if __name__ == "__main__":
    main()
