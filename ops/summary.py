"""Per-day cost and volume for the admin: what users were charged, what the provider cost, how jobs ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import ZERO, LedgerEntry
from generation.models import Generation, ProviderCall


@dataclass
class Day:
    day: date | None
    created: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    cached: int = 0
    images: int = 0
    calls: int = 0
    failed_calls: int = 0
    provider_cost_usd: Decimal = field(default=ZERO)
    charged_usd: Decimal = field(default=ZERO)
    refunded_usd: Decimal = field(default=ZERO)

    @property
    def net_usd(self) -> Decimal:
        return self.charged_usd - self.refunded_usd

    def add(self, other: Day) -> None:
        for name in ("created", "succeeded", "failed", "cancelled", "cached", "images", "calls", "failed_calls"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.provider_cost_usd += other.provider_cost_usd
        self.charged_usd += other.charged_usd
        self.refunded_usd += other.refunded_usd


def _by_day(rows: QuerySet[Any], date_field: str, **aggregates: Any) -> dict[date, dict[str, Any]]:
    grouped = rows.annotate(day=TruncDate(date_field)).values("day").annotate(**aggregates).order_by("day")
    return {row.pop("day"): row for row in grouped}


def daily_summary(days: int, tier_slug: str = "") -> tuple[list[Day], Day]:
    """One row per day (newest first) over the last `days` days, and their totals: three grouped queries."""
    Status = Generation.Status
    today = timezone.localdate()
    since = timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time.min))
    generations = Generation.objects.filter(created_at__gte=since)
    calls = ProviderCall.objects.filter(started_at__gte=since)
    money = LedgerEntry.objects.filter(
        created_at__gte=since, kind__in=[LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.REFUND]
    )
    if tier_slug:
        generations = generations.filter(owner__account__tier__slug=tier_slug)
        calls = calls.filter(generation__owner__account__tier__slug=tier_slug)
        money = money.filter(account__tier__slug=tier_slug)
    jobs = _by_day(
        generations,
        "created_at",
        created=Count("pk"),
        succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        cancelled=Count("pk", filter=Q(status=Status.CANCELLED)),
        cached=Count("pk", filter=Q(cached=True)),
        images=Sum("n", filter=Q(status=Status.SUCCEEDED)),
    )
    upstream = _by_day(
        calls,
        "started_at",
        calls=Count("pk"),
        failed_calls=Count("pk", filter=~Q(outcome=ProviderCall.Outcome.SUCCESS)),
        provider_cost_usd=Sum("cost_usd"),
    )
    ledger = _by_day(
        money,
        "created_at",
        charged_usd=Sum("spend_usd", filter=Q(kind=LedgerEntry.Kind.CAPTURE)),
        refunded_usd=Sum("spend_usd", filter=Q(kind=LedgerEntry.Kind.REFUND)),
    )
    rows, total = [], Day(None)
    for offset in range(days):
        day = today - timedelta(days=offset)
        row = Day(day)
        for name, value in {**jobs.get(day, {}), **upstream.get(day, {}), **ledger.get(day, {})}.items():
            if value is not None:
                setattr(row, name, value)
        row.refunded_usd = -row.refunded_usd  # refunds are negative movements in the ledger
        rows.append(row)
        total.add(row)
    return rows, total
