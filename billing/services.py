"""Every change to an account's money and quota: reserve up front, then capture or release exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import ZERO, Account, LedgerEntry, Tier
from billing.seed import DEFAULT_TIERS
from core.api import ApiError

log = logging.getLogger(__name__)
WARN_AT = Decimal("0.8")


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) that holds `moment`: billing periods roll over on the 1st."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def seed_tiers() -> int:
    """Create the default tiers that do not exist yet; never overwrite what an admin edited."""
    created = 0
    for spec in DEFAULT_TIERS:
        _, was_created = Tier.objects.get_or_create(slug=spec["slug"], defaults=spec)
        created += was_created
    return created


def default_tier() -> Tier:
    tier = Tier.objects.filter(is_default=True).first() or Tier.objects.order_by("priority").first()
    if tier is None:
        seed_tiers()
        tier = Tier.objects.get(is_default=True)
    return tier


def ensure_account(user: Any) -> Account:
    """The user's account, created on the default tier the first time it is needed."""
    try:
        return Account.objects.select_related("tier").get(user=user)
    except Account.DoesNotExist:
        pass
    start, end = month_bounds(timezone.now())
    try:
        with transaction.atomic():
            return Account.objects.create(user=user, tier=default_tier(), period_start=start, period_end=end)
    except IntegrityError:  # another request created it first
        return Account.objects.select_related("tier").get(user=user)


def start_email_verification(user: Any) -> None:
    """Hold the new account back from generating until its owner follows the link sent to their address."""
    Account.objects.filter(pk=ensure_account(user).pk).update(email_verified=False)


def verify_email(user: Any) -> None:
    Account.objects.filter(pk=ensure_account(user).pk).update(email_verified=True)


def lock_account(user: Any) -> Account:
    """Lock the user's account row for the rest of the transaction, rolling its period over if due."""
    # Lock the account row only: locking the tier too would queue every user of a tier behind one another.
    rows = Account.objects.select_for_update(of=("self",)).select_related("tier").filter(user=user)
    account = rows.first()
    if account is None:  # the user's first request: make the account, then lock it
        ensure_account(user)
        account = rows.get()
    roll_over_if_due(account)
    return account


def roll_over_if_due(account: Account) -> None:
    """Start the current month's period once the stored one has ended; holds carry over, usage starts at zero."""
    now = timezone.now()
    if now < account.period_end:
        return
    account.period_start, account.period_end = month_bounds(now)
    account.generations_used = 0
    account.spend_usd = ZERO
    account.extra_quota = 0
    account.save(update_fields=["period_start", "period_end", "generations_used", "spend_usd", "extra_quota"])
    LedgerEntry.objects.create(account=account, kind=LedgerEntry.Kind.ROLLOVER, period_start=account.period_start)


@dataclass(frozen=True)
class Reservation:
    amount_usd: Decimal
    generations: int = 1


def resets_on(account: Account) -> str:
    """The day the period rolls over, in words."""
    return f"{account.period_end.day} {account.period_end:%B %Y}"


def check_room_for(account: Account, amount: Decimal) -> None:
    """Raise 402 when one more generation costing `amount` would pass the quota or the budget."""
    tier, resets = account.tier, account.period_end.isoformat()
    if account.generations_used + account.reserved_generations + 1 > account.generations_limit:
        raise ApiError(
            "quota_exceeded",
            f"You have used all {account.generations_limit} generations of your {tier.name} plan for this "
            f"period. It resets on {resets_on(account)}.",
            402,
            resets_at=resets,
            generations_used=account.generations_used + account.reserved_generations,
            generations_limit=account.generations_limit,
        )
    if account.spend_usd + account.reserved_usd + amount > account.budget_usd:
        raise ApiError(
            "budget_exceeded",
            f"This generation (up to ${amount:.2f}) would take your {tier.name} plan past its "
            f"${account.budget_usd:.2f} budget for this period. It resets on {resets_on(account)}.",
            402,
            resets_at=resets,
            spend_usd=f"{account.spend_usd + account.reserved_usd:.4f}",
            budget_usd=f"{account.budget_usd:.4f}",
        )


def reserve(account: Account, generation: Any, amount: Decimal) -> None:
    """Hold quota and money for a generation; call inside the transaction that locked the account."""
    if amount < 0:
        raise ValueError(f"a reservation cannot be negative: {amount}")
    check_room_for(account, amount)
    account.reserved_generations += 1
    account.reserved_usd += amount
    account.save(update_fields=["reserved_generations", "reserved_usd"])
    LedgerEntry.objects.create(
        account=account,
        generation=generation,
        kind=LedgerEntry.Kind.RESERVE,
        period_start=account.period_start,
        reserved_usd=amount,
        reserved_generations=1,
    )


def note_reservation(generation: Any, *, actor: Any, note: str) -> None:
    """Say on a generation's reserve entry who made it on the user's behalf (support retries)."""
    LedgerEntry.objects.filter(generation_id=generation.pk, kind=LedgerEntry.Kind.RESERVE).update(
        actor=actor, note=note[:200]
    )


def _reservation_of(generation_id: Any) -> Reservation | None:
    entry = LedgerEntry.objects.filter(generation_id=generation_id, kind=LedgerEntry.Kind.RESERVE).first()
    return Reservation(entry.reserved_usd, entry.reserved_generations) if entry else None


def _already_settled(generation_id: Any) -> bool:
    return LedgerEntry.objects.filter(
        generation_id=generation_id, kind__in=[LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE]
    ).exists()


@transaction.atomic
def settle(generation: Any, *, charge_usd: Decimal | None, note: str = "") -> bool:
    """Capture `charge_usd` (a success) or release the hold (charge_usd None); True only the first time.

    The charge never exceeds the hold, so a budget can never be overspent; a result that cost nothing
    (served from the cache, or a free model) uses no quota either.
    """
    account = lock_account(generation.owner)
    held = _reservation_of(generation.pk)
    if held is None or _already_settled(generation.pk):
        return False
    captured = charge_usd is not None
    charge = min(max(charge_usd or ZERO, ZERO), held.amount_usd)
    if captured and charge_usd is not None and charge_usd > held.amount_usd:
        log.warning("charge capped at the hold gen=%s actual=%s held=%s", generation.pk, charge_usd, held.amount_usd)
        note = note or f"capped at the reservation; the call cost {charge_usd}"
    entry = LedgerEntry(
        account=account,
        generation_id=generation.pk,
        kind=LedgerEntry.Kind.CAPTURE if captured else LedgerEntry.Kind.RELEASE,
        period_start=account.period_start,
        reserved_usd=-held.amount_usd,
        reserved_generations=-held.generations,
        spend_usd=charge,
        generations_used=held.generations if captured and charge > 0 else 0,
        note=note[:200],
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:  # a concurrent settle won the unique constraint
        return False
    account.reserved_usd -= held.amount_usd
    account.reserved_generations -= held.generations
    account.spend_usd += entry.spend_usd
    account.generations_used += entry.generations_used
    account.save(update_fields=["reserved_usd", "reserved_generations", "spend_usd", "generations_used"])
    if entry.generations_used or entry.spend_usd:
        account_id = account.pk
        transaction.on_commit(lambda: warn_if_near_limit(account_id), robust=True)
    return True


@transaction.atomic
def refund(generation: Any, *, actor: Any, note: str = "") -> bool:
    """Give back what a captured generation cost (support action); once per generation.

    The caller holds the generation's row lock (generation.services.refund): the order every settlement takes.

    A charge from a period that has closed is recorded but changes nothing: that period's limits are gone.
    """
    captured = LedgerEntry.objects.filter(generation_id=generation.pk, kind=LedgerEntry.Kind.CAPTURE).first()
    if (
        captured is None
        or LedgerEntry.objects.filter(generation_id=generation.pk, kind=LedgerEntry.Kind.REFUND).exists()
    ):
        return False
    account = lock_account(generation.owner)
    same_period = captured.period_start == account.period_start
    entry = LedgerEntry(
        account=account,
        generation_id=generation.pk,
        kind=LedgerEntry.Kind.REFUND,
        period_start=account.period_start,
        spend_usd=-captured.spend_usd if same_period else ZERO,
        generations_used=-captured.generations_used if same_period else 0,
        actor=actor,
        note=(note or "refund")[:200] if same_period else f"{note or 'refund'} (charged in a closed period)"[:200],
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:  # a concurrent refund won the unique constraint
        return False
    if same_period:
        account.spend_usd += entry.spend_usd
        account.generations_used += entry.generations_used
        account.save(update_fields=["spend_usd", "generations_used"])
        _rearm_warning(account)
    return True


@transaction.atomic
def set_tier(user: Any, slug: str, *, actor: Any = None) -> Account:
    """Move a user to another tier; their limits change at once."""
    tier = Tier.objects.get(slug=slug)
    account = lock_account(user)
    if account.tier_id == tier.pk:
        return account
    old = account.tier.slug
    account.tier = tier
    account.save(update_fields=["tier"])
    LedgerEntry.objects.create(
        account=account,
        kind=LedgerEntry.Kind.TIER_CHANGE,
        period_start=account.period_start,
        actor=actor,
        note=f"{old} -> {tier.slug}",
    )
    _rearm_warning(account)
    log.info("tier changed account=%s %s -> %s actor=%s", account.pk, old, tier.slug, getattr(actor, "pk", None))
    return account


@transaction.atomic
def grant_quota(user: Any, generations: int, *, actor: Any, note: str = "") -> Account:
    """Give a user extra generations for the current period (support action, audited in the ledger)."""
    if generations < 1:
        raise ValueError("grant at least one generation")
    account = lock_account(user)
    account.extra_quota += generations
    account.save(update_fields=["extra_quota"])
    LedgerEntry.objects.create(
        account=account,
        kind=LedgerEntry.Kind.GRANT,
        period_start=account.period_start,
        extra_quota=generations,
        actor=actor,
        note=note[:200] or f"granted {generations} generations",
    )
    _rearm_warning(account)
    log.info("quota granted account=%s generations=%s actor=%s", account.pk, generations, getattr(actor, "pk", None))
    return account


def _rearm_warning(account: Account) -> None:
    """After limits change, warn again when the user nears the new ones (and now, if they already are)."""
    if account.warned_period_start is not None and account.usage_fraction() < float(WARN_AT):
        account.warned_period_start = None
        account.save(update_fields=["warned_period_start"])
    account_id = account.pk
    transaction.on_commit(lambda: warn_if_near_limit(account_id), robust=True)


def mark_closing(user: Any) -> None:
    """Note that the user asked to delete their account (their jobs are being stopped)."""
    Account.objects.filter(user=user, closing_since=None).update(closing_since=timezone.now())


def anonymise(user: Any) -> Account | None:
    """Detach the user's account from them before they are deleted: figures, tier and ledger stay for the books.

    Call it when nothing is held any more (every job of theirs has ended). What a ledger entry records is amounts,
    kinds, periods and the generation it was for; the one free text that can name a person is a support note, which
    goes. The account still equals its ledger, so `check_ledger` keeps passing.
    """
    account = Account.objects.select_for_update(of=("self",)).filter(user=user).first()
    if account is None:
        return None
    if account.reserved_generations or account.reserved_usd:
        raise ValueError(f"account {account.pk} still holds reservations; end its jobs first")
    LedgerEntry.objects.filter(account=account, actor__isnull=False).exclude(note="").update(note="")
    account.user = None
    account.closed_at = timezone.now()
    account.warned_period_start = None
    account.save(update_fields=["user", "closed_at", "warned_period_start"])
    log.info("account anonymised account=%s", account.pk)
    return account


def ledger_totals(account: Account) -> dict[str, Any]:
    """What the ledger says the account's figures are; the account row must always agree."""
    period = account.ledger.filter(period_start=account.period_start).aggregate(
        spend=Sum("spend_usd"), used=Sum("generations_used"), extra=Sum("extra_quota")
    )
    held = account.ledger.aggregate(usd=Sum("reserved_usd"), count=Sum("reserved_generations"))
    return {
        "spend_usd": period["spend"] or ZERO,
        "generations_used": period["used"] or 0,
        "extra_quota": period["extra"] or 0,
        "reserved_usd": held["usd"] or ZERO,
        "reserved_generations": held["count"] or 0,
    }


def ledger_mismatches(account: Account) -> dict[str, tuple[Any, Any]]:
    """Each figure where the account row and its ledger disagree, as (row, ledger); empty when they agree."""
    account.refresh_from_db()
    totals = ledger_totals(account)
    return {name: (getattr(account, name), value) for name, value in totals.items() if getattr(account, name) != value}


def usage_fraction(account: Account) -> float:
    return account.usage_fraction()


def warn_if_near_limit(account_id: int) -> None:
    """Email the user once per period when they pass 80% of their quota or budget."""
    with transaction.atomic():
        account = Account.objects.select_for_update(of=("self",)).select_related("tier", "user").get(pk=account_id)
        if account.usage_fraction() < float(WARN_AT) or account.warned_period_start == account.period_start:
            return
        account.warned_period_start = account.period_start
        account.save(update_fields=["warned_period_start"])
    log.info("usage warning account=%s used=%.0f%%", account_id, account.usage_fraction() * 100)
    if account.user is None or not account.user.email:
        return  # a closed account, or nowhere to write to
    try:
        send_mail(
            f"You have used {min(round(account.usage_fraction() * 100), 100)}% of your InteriorAI plan",
            f"Hello {account.user.get_username()},\n\n"
            f"You have used {account.generations_used} of your {account.generations_limit} generations and "
            f"${account.spend_usd:.2f} of your ${account.budget_usd:.2f} budget on the {account.tier.name} plan "
            f"this period. It resets on {resets_on(account)}.\n",
            settings.DEFAULT_FROM_EMAIL,
            [account.user.email],
        )
    except Exception:  # the warning is a courtesy: a mail outage must not fail a generation
        log.warning("usage warning email failed account=%s", account_id, exc_info=True)
