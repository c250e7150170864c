"""Prepare the benchmark database: migrate, seed tiers, and make the simulated users with API tokens and sessions.

Run with the benchmark's environment: `python -m bench.setup --users 1000 --out var/bench/users.json`.
Tier quotas and budgets are lifted in this database only, so the billing guard never refuses a benchmark job
(it has its own tests); tiers keep their queues, priorities and in-flight caps, which are what is measured.
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
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    django.setup()

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import transaction

    from bench.profile import tier_of
    from billing.models import Tier
    from billing.services import ensure_account, seed_tiers, set_tier
    from developers.tokens import create_token

    call_command("migrate", "--no-input", verbosity=0)
    seed_tiers()
    Tier.objects.update(monthly_quota=1_000_000, monthly_budget_usd=100_000)
    user_model = get_user_model()
    users = []
    with transaction.atomic():
        for index in range(args.users):
            name = f"bench{index:04d}"
            user = user_model(username=name, email=f"{name}@bench.invalid")
            user.set_unusable_password()  # hashing 1000 real passwords would take minutes; sessions are made here
            user.save()
            ensure_account(user)
            tier = tier_of(index)
            if tier != "free":
                set_tier(user, tier)
            _, key = create_token(user, "bench")
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.set_expiry(24 * 3600)
            session.create()
            users.append({"id": user.pk, "username": name, "tier": tier, "token": key, "session": session.session_key})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(users))
    print(f"{len(users)} users ready")


if __name__ == "__main__":
    main()
