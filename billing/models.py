"""Tiers, billing accounts and the ledger every money and quota movement is written to."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from billing.pricing import SIZES
from billing.qualities import QUALITIES

ZERO = Decimal("0")


def all_sizes() -> list[str]:
    return list(SIZES)


def size_ratio(size: str) -> float:
    width, height = (int(side) for side in size.split("x"))
    return width / height


class Tier(models.Model):
    class Queue(models.TextChoices):
        # The queues the generation workers consume (-Q default,gen.priority,gen.standard), fastest first.
        PRIORITY = "gen.priority", "Priority"
        STANDARD = "gen.standard", "Standard"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    monthly_quota = models.PositiveIntegerField(help_text="Generations per billing period.")
    monthly_budget_usd = models.DecimalField(
        max_digits=10, decimal_places=4, help_text="Most the provider calls of one period may cost, in USD."
    )
    max_in_flight = models.PositiveSmallIntegerField(default=2, help_text="Generations running at once.")
    queue = models.CharField(
        max_length=40, choices=Queue.choices, default=Queue.STANDARD, help_text="Celery queue for this tier's jobs."
    )
    priority = models.PositiveSmallIntegerField(default=0, help_text="Higher is served first.")
    allowed_qualities = models.JSONField(default=list)
    allowed_sizes = models.JSONField(
        default=all_sizes, help_text="Output sizes; a photo gets the allowed size closest to its shape."
    )
    max_images = models.PositiveSmallIntegerField(default=1, help_text="Images per request at most.")
    cache_ttl_days = models.PositiveSmallIntegerField(default=30)
    fallback_max_usd = models.DecimalField(
        "fallback price cap (USD per image)",
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="A fallback provider dearer than this per image is not used for this tier's jobs: they wait for the "
        "primary instead. Empty: any fallback in PROVIDER_CHAIN.",
    )
    storage_limit_mb = models.PositiveIntegerField(default=500, help_text="Room photos kept at once, in MB.")
    is_default = models.BooleanField(default=False, help_text="Tier given to new sign-ups.")

    class Meta:
        ordering = ["priority", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_tier",
                violation_error_message="Another tier is already the default; untick it there first.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if not self.allowed_qualities or not set(self.allowed_qualities) <= set(QUALITIES):
            errors["allowed_qualities"] = f"Choose one or more of {', '.join(QUALITIES)}."
        if not self.allowed_sizes or not set(self.allowed_sizes) <= set(SIZES):
            errors["allowed_sizes"] = f"Choose one or more of {', '.join(SIZES)}."
        if self.max_images < 1:
            errors["max_images"] = "At least one image per request."
        if errors:
            raise ValidationError(errors)

    def fit_size(self, wanted: str) -> str:
        """The allowed output size closest in shape to `wanted` (the size that best fits the photo)."""
        allowed = [size for size in SIZES if size in self.allowed_sizes] or [SIZES[0]]
        if wanted in allowed:
            return wanted
        return min(allowed, key=lambda size: abs(size_ratio(size) - size_ratio(wanted)))


class Account(models.Model):
    # When its user is deleted the account stays, anonymised: its ledger is the books of what was charged.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="account")
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
    closing_since = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,  # the workers' sweep looks for these every few seconds
        help_text="Its user asked to delete their account; erased once no job of theirs runs.",
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Its user and their data were erased.")
    # False only for a sign-up waiting to confirm its address (SIGNUP_EMAIL_VERIFICATION): it may not generate yet.
    email_verified = models.BooleanField(default=True)

    def __str__(self) -> str:
        if self.user_id is None:
            return f"closed account #{self.pk} ({self.tier.slug})"
        return f"{self.user} ({self.tier.slug})"

    @property
    def generations_limit(self) -> int:
        return self.tier.monthly_quota + self.extra_quota

    @property
    def budget_usd(self) -> Decimal:
        return self.tier.monthly_budget_usd

    def period_is_over(self, now: datetime | None = None) -> bool:
        """Whether the stored figures belong to a past period (they roll over on the next locked write)."""
        return (now or timezone.now()) >= self.period_end

    def usage_fraction(self) -> float:
        """How much of the quota or the budget (whichever is further along) this period has used, 0-1+."""
        if self.period_is_over():
            return 0.0
        used = self.generations_used / max(self.generations_limit, 1)
        spent = float(self.spend_usd / self.budget_usd) if self.budget_usd else 0.0
        return max(used, spent)


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
            models.UniqueConstraint(
                fields=["generation"], condition=models.Q(kind="refund"), name="one_refund_per_generation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.spend_usd or self.reserved_usd} for {self.account_id}"


class DailySummary(LedgerEntry):
    """The admin's per-day cost and volume page (a proxy: it has no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "daily cost and volume"
        verbose_name_plural = "daily cost and volume"
