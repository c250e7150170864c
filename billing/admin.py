from django.contrib import admin

from billing.models import Account, LedgerEntry, Tier


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "monthly_quota", "monthly_budget_usd", "max_in_flight", "queue", "priority"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["user", "tier", "generations_used", "spend_usd", "reserved_usd", "period_end"]
    list_select_related = ["user", "tier"]
    readonly_fields = ["generations_used", "spend_usd", "reserved_generations", "reserved_usd"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "kind", "reserved_usd", "spend_usd", "generations_used", "note"]
    list_select_related = ["account__user"]
