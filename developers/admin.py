from django.contrib import admin

from developers.models import ApiToken, WebhookDelivery, WebhookEndpoint


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "source", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["source"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "prefix", "key_hash", "source", "created_at", "last_used_at"]
    list_select_related = ["user"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "user", "active", "disabled_reason", "consecutive_failures", "last_success_at"]
    list_filter = ["active", "disabled_reason"]
    search_fields = ["url", "user__username"]
    exclude = ["secret", "previous_secret"]
    readonly_fields = ["user", "consecutive_failures", "failing_since", "last_success_at", "created_at"]
    list_select_related = ["user"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["message_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["message_id", "endpoint__url"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    list_select_related = ["endpoint"]
