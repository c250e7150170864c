"""Support in the Django admin: tiers, accounts (tier changes and grants, audited) and the ledger.

Money and quota figures are never edited as fields: every change goes through billing.services, which
writes the ledger row and keeps the account equal to the sum of its ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billing import services
from billing.models import Account, LedgerEntry, Tier
from billing.pricing import SIZES
from billing.qualities import QUALITIES

SIZE_LABELS = {"1024x1024": "square", "1024x1536": "portrait", "1536x1024": "landscape"}


class TierForm(forms.ModelForm):
    allowed_qualities = forms.MultipleChoiceField(
        choices=[(quality, quality) for quality in QUALITIES], widget=forms.CheckboxSelectMultiple
    )
    allowed_sizes = forms.MultipleChoiceField(
        choices=[(size, f"{size} ({SIZE_LABELS.get(size, '')})") for size in SIZES],
        widget=forms.CheckboxSelectMultiple,
        help_text="A photo gets the allowed size closest to its shape.",
    )

    class Meta:
        model = Tier
        fields = [
            "name",
            "slug",
            "is_default",
            "monthly_quota",
            "monthly_budget_usd",
            "allowed_qualities",
            "allowed_sizes",
            "max_images",
            "max_in_flight",
            "queue",
            "priority",
            "cache_ttl_days",
            "storage_limit_mb",
        ]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    form = TierForm
    list_display = [
        "name",
        "slug",
        "monthly_quota",
        "monthly_budget_usd",
        "max_in_flight",
        "queue",
        "priority",
        "max_images",
        "qualities",
        "sizes",
        "is_default",
        "account_count",
    ]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_default"]}),
        ("Limits per billing period", {"fields": ["monthly_quota", "monthly_budget_usd"]}),
        ("Requests", {"fields": ["allowed_qualities", "allowed_sizes", "max_images", "max_in_flight"]}),
        ("Scheduling", {"fields": ["queue", "priority", "cache_ttl_days", "fallback_max_usd"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tier]:
        return super().get_queryset(request).annotate(account_count=Count("accounts"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only an empty tier: the confirmation page would otherwise list every account that blocks it.
        return obj is not None and not obj.accounts.exists() and super().has_delete_permission(request, obj)

    @admin.display(description="qualities")
    def qualities(self, tier: Tier) -> str:
        return ", ".join(tier.allowed_qualities)

    @admin.display(description="sizes")
    def sizes(self, tier: Tier) -> str:
        return ", ".join(SIZE_LABELS.get(size, size) for size in tier.allowed_sizes)

    @admin.display(description="accounts", ordering="account_count")
    def account_count(self, tier: Any) -> int:
        return int(tier.account_count)


class AccountForm(forms.ModelForm):
    grant_generations = forms.IntegerField(
        min_value=0,
        required=False,
        label="Grant extra generations",
        help_text="Added to this period's quota at once; recorded in the ledger with your name.",
    )
    note = forms.CharField(max_length=200, required=False, help_text="Why (kept in the ledger).")

    class Meta:
        model = Account
        fields = ["tier"]
        help_texts = {"tier": "Takes effect at once; recorded in the ledger with your name."}


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ["user", "tier", "generations", "spend", "reserved", "period_end", "warned"]
    list_filter = ["tier"]
    list_select_related = ["user", "tier"]
    search_fields = ["user__username", "user__email"]
    show_full_result_count = False
    readonly_fields = [
        "user",
        "period_start",
        "period_end",
        "generations",
        "spend",
        "reserved",
        "generations_used",
        "extra_quota",
        "spend_usd",
        "reserved_generations",
        "reserved_usd",
        "warned_period_start",
        "ledger",
    ]
    fieldsets = [
        (None, {"fields": ["user", "tier", "period_start", "period_end"]}),
        ("This period", {"fields": ["generations", "spend", "reserved", "warned_period_start", "ledger"]}),
        ("Support", {"fields": ["grant_generations", "note"]}),
        (
            "Ledger figures",
            {
                "classes": ["collapse"],
                "fields": ["generations_used", "extra_quota", "spend_usd", "reserved_generations", "reserved_usd"],
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come with sign-up

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger goes with it

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        # Never obj.save(): the row loaded with the form is stale by now, and its figures move only via the ledger.
        if "tier" in form.changed_data:
            services.set_tier(obj.user, obj.tier.slug, actor=request.user)
        if grant := form.cleaned_data.get("grant_generations"):
            services.grant_quota(obj.user, grant, actor=request.user, note=form.cleaned_data.get("note") or "")
        obj.refresh_from_db()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            for tier in Tier.objects.all():
                name = f"move_to_{tier.slug}"
                actions[name] = (self._mover(tier), name, f"Move the selected accounts to the {tier.name} tier")
        return actions

    @staticmethod
    def _mover(tier: Tier) -> Callable[..., Any]:
        def move(modeladmin: AccountAdmin, request: HttpRequest, queryset: QuerySet[Account]) -> None:
            accounts = list(queryset.select_related("user"))
            for account in accounts:
                services.set_tier(account.user, tier.slug, actor=request.user)
            modeladmin.message_user(request, f"Moved {len(accounts)} account(s) to the {tier.name} tier.")

        return move

    @admin.display(description="generations used")
    def generations(self, account: Account) -> str:
        if account.period_is_over():
            return f"0 / {account.tier.monthly_quota} (new period)"
        extra = f" (+{account.extra_quota} granted)" if account.extra_quota else ""
        return f"{account.generations_used} / {account.generations_limit}{extra}"

    @admin.display(description="spend")
    def spend(self, account: Account) -> str:
        spent = 0 if account.period_is_over() else account.spend_usd
        return f"${spent:.2f} / ${account.budget_usd:.2f}"

    @admin.display(description="reserved")
    def reserved(self, account: Account) -> str:
        return f"{account.reserved_generations} (${account.reserved_usd:.2f})"

    @admin.display(description="warned", boolean=True)
    def warned(self, account: Account) -> bool:
        return account.warned_period_start == account.period_start

    @admin.display(description="ledger")
    def ledger(self, account: Account) -> str:
        url = reverse("admin:billing_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">Every movement of this account</a>', url)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "kind",
        "generation_link",
        "reserved_usd",
        "reserved_generations",
        "spend_usd",
        "generations_used",
        "extra_quota",
        "actor",
        "note",
    ]
    list_filter = ["kind", "created_at"]
    list_select_related = ["account__user", "account__tier", "actor"]
    search_fields = ["account__user__username", "note"]
    show_full_result_count = False

    @admin.display(description="generation")
    def generation_link(self, entry: LedgerEntry) -> str:
        if entry.generation_id is None:
            return "-"
        url = reverse("admin:generation_generation_change", args=[entry.generation_id])
        return format_html('<a href="{}">{}</a>', url, str(entry.generation_id)[:8])
