from django.contrib import admin

from generation.models import Generation, ProviderCall, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "room_type", "width", "height", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["photo", "photo_sha256", "width", "height"]


class ProviderCallInline(admin.TabularInline):
    model = ProviderCall
    extra = 0
    can_delete = False
    readonly_fields = [
        "attempt",
        "provider",
        "model",
        "outcome",
        "status_code",
        "error_code",
        "latency_ms",
        "cost_usd",
        "provider_request_id",
        "started_at",
    ]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "style", "status", "stage", "attempts", "cost_usd", "cached", "created_at"]
    list_filter = ["status", "queue", "provider", "error_code", "cached"]
    list_select_related = ["owner"]
    search_fields = ["id", "owner__username"]
    readonly_fields = ["estimated_cost_usd", "cost_usd", "billing_state", "status", "attempts", "images"]
    inlines = [ProviderCallInline]
