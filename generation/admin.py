"""Rooms and generations in the Django admin: read-only rows, and support actions that go through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from billing import services as billing
from core.api import ApiError
from generation import presenter, rooms, services
from generation.models import Generation, ProviderCall, ProviderLimit, Room
from generation.provider import limits

Status = Generation.Status


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "room_type", "width", "height", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["owner", "photo", "photo_sha256", "width", "height", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rooms come from an upload, which checks and re-encodes the photo

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        self.delete_rooms(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        self.delete_rooms(request, list(queryset))

    def delete_rooms(self, request: HttpRequest, rooms_to_delete: list[Room]) -> None:
        for room in rooms_to_delete:
            try:
                rooms.delete_room(room)
            except ApiError as exc:  # a job of the room is rendering: it is kept until that job ends
                self.message_user(request, f"{room}: {exc.message}", messages.ERROR)


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

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "owner",
        "tier",
        "style",
        "status",
        "error_code",
        "attempts",
        "provider",
        "estimated_cost_usd",
        "cost_usd",
        "charged",
        "cached",
        "created_at",
    ]
    list_filter = [
        "status",
        ("owner__account__tier", admin.RelatedFieldListFilter),
        "provider",
        "error_code",
        "billing_state",
        "cached",
        "queue",
    ]
    list_select_related = ["owner__account__tier"]
    search_fields = ["id", "owner__username"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["retry_failed", "refund"]
    inlines = [ProviderCallInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Status and money change only through the services; nothing here is edited by hand.
        return [field.name for field in Generation._meta.fields] + ["ledger"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its reservation would never be settled

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="id")
    def short_id(self, generation: Generation) -> str:
        return str(generation.pk)[:8]

    @admin.display(description="tier", ordering="owner__account__tier__priority")
    def tier(self, generation: Generation) -> str:
        account = getattr(generation.owner, "account", None)
        return account.tier.name if account else "-"

    @admin.display(description="charged", boolean=True)
    def charged(self, generation: Generation) -> bool:
        return presenter.is_charged(generation)

    @admin.display(description="ledger")
    def ledger(self, generation: Generation) -> str:
        url = reverse("admin:billing_ledgerentry_changelist") + f"?generation__id__exact={generation.pk}"
        return format_html('<a href="{}">Reserve and settlement of this generation</a>', url)

    @admin.action(
        description="Retry the selected failed generations (a new job on the owner's plan)", permissions=["change"]
    )
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        retried, problems = 0, []
        for generation in queryset.filter(status=Status.FAILED).select_related("owner", "room"):
            label = str(generation.pk)[:8]
            if generation.room is None:
                problems.append(f"{label}: its room was deleted.")
                continue
            try:
                with transaction.atomic():
                    fresh = services.create_variant(generation, request_id=getattr(request, "request_id", ""))
                    billing.note_reservation(fresh, actor=request.user, note=f"admin retry of {generation.pk}")
            except ApiError as exc:
                problems.append(f"{label}: {exc.message}")
                continue
            retried += 1
        skipped = queryset.exclude(status=Status.FAILED).count()
        self.message_user(request, f"Retried {retried} generation(s) as new jobs.")
        if skipped:
            problems.append(f"{skipped} selected generation(s) had not failed and were left alone.")
        for problem in problems[:20]:
            self.message_user(request, problem, messages.WARNING)

    @admin.action(description="Refund the selected generations' charges", permissions=["change"])
    def refund(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        refunded = 0
        for generation in queryset.filter(billing_state=Generation.Billing.CAPTURED).select_related("owner"):
            refunded += services.refund(generation, actor=request.user, note=f"refund by {request.user.get_username()}")
        self.message_user(request, f"Refunded {refunded} generation(s).")
        if skipped := queryset.count() - refunded:
            message = f"{skipped} generation(s) had no charge to refund (or were refunded already)."
            self.message_user(request, message, messages.WARNING)


@admin.register(ProviderLimit)
class ProviderLimitAdmin(admin.ModelAdmin):
    """Per-model rate limits; every worker picks a change up within a few seconds (generation/limits.py)."""

    list_display = ["provider", "model", "rpm", "ipm", "updated_at"]
    list_editable = ["rpm", "ipm"]
    ordering = ["provider", "model"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        limits.forget()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        limits.forget()
