"""The ops pages of the admin that read across apps: the daily cost and volume summary."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from billing.admin import ReadOnlyAdmin
from billing.models import DailySummary, Tier
from ops.summary import daily_summary


@admin.register(DailySummary)
class DailySummaryAdmin(ReadOnlyAdmin):
    """Per-day cost and volume at /admin/billing/dailysummary/ (?days=30&tier=pro)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 366)
        except ValueError:
            days = 30
        tiers = list(Tier.objects.values_list("slug", "name"))
        tier = request.GET.get("tier", "")
        tier = tier if tier in dict(tiers) else ""
        rows, total = daily_summary(days, tier)
        context = {
            **self.admin_site.each_context(request),
            "title": "Daily cost and volume",
            "opts": self.model._meta,
            "rows": rows,
            "total": total,
            "days": days,
            "tier": tier,
            "tiers": tiers,
            "now": timezone.now(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/billing/daily_summary.html", context)
