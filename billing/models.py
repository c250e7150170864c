"""Tiers, billing accounts and the ledger every money and quota movement is written to."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

ZERO = Decimal("0")


class Tier(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    monthly_quota = models.PositiveIntegerField(help_text="Generations per billing period.")
    monthly_budget_usd = models.DecimalField(max_digits=10, decimal_places=4)
    max_in_flight = models.PositiveSmallIntegerField(default=2, help_text="Queued or running generations at once.")
    queue = models.CharField(max_length=40, default="gen.standard", help_text="Celery queue for this tier's jobs.")
    priority = models.PositiveSmallIntegerField(default=0, help_text="Higher is served first.")
    allowed_qualities = models.JSONField(default=list)
    max_images = models.PositiveSmallIntegerField(default=1, help_text="Images per request at most.")
    cache_ttl_days = models.PositiveSmallIntegerField(default=30)
    is_default = models.BooleanField(default=False, help_text="Tier given to new sign-ups.")

    class Meta:
        ordering = ["priority", "slug"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="accounts")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # Running figures of the current period; each equals the sum of the matching ledger column.
    generations_used = models.PositiveIntegerField(default=0)
    spend_usd = models.DecimalField(max_digits=12, decimal_places=4, default=ZERO)
    extra_quota = models.PositiveIntegerField(default=0, help_text="Granted by support for this period.")
    # Reservations are not tied to a period: they settle whenever their generation ends.
    reserved_generations = models.PositiveIntegerField(default=0)
    reserved_usd = models.DecimalField(max_digits=12, decimal_places=4, default=ZERO)
    warned_period_start = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.tier.slug})"

    @property
    def generations_limit(self) -> int:
        return self.tier.monthly_quota + self.extra_quota

    @property
    def budget_usd(self) -> Decimal:
        return self.tier.monthly_budget_usd


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        RESERVE = "reserve"
        CAPTURE = "capture"
        RELEASE = "release"
        REFUND = "refund"
        GRANT = "grant"
        TIER_CHANGE = "tier_change"
        ROLLOVER = "rollover"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ledger")
    generation = models.ForeignKey(
        "generation.Generation", null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    period_start = models.DateTimeField()
    reserved_usd = models.DecimalField(max_digits=12, decimal_places=4, default=ZERO)
    reserved_generations = models.IntegerField(default=0)
    spend_usd = models.DecimalField(max_digits=12, decimal_places=4, default=ZERO)
    generations_used = models.IntegerField(default=0)
    extra_quota = models.IntegerField(default=0)
    note = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "period_start"]), models.Index(fields=["created_at"])]
        constraints = [
            # Settling twice is impossible: one capture or release per generation, enforced by the database.
            models.UniqueConstraint(
                fields=["generation"],
                condition=models.Q(kind__in=["capture", "release"]),
                name="one_settlement_per_generation",
            ),
            models.UniqueConstraint(
                fields=["generation"], condition=models.Q(kind="reserve"), name="one_reservation_per_generation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.spend_usd or self.reserved_usd} for {self.account_id}"
