"""The ops page: the last hour at a glance, computed from the database and Redis (the same truth as /metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from core.counters import CACHE_KEY
from core.redis import as_text, redis_client
from generation.cache import lookup
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.provider.gates import breaker_for
from ops import alerts
from ops.access import VIEW_OPS
from ops.metrics import QUEUES
from ops.models import Alert

BUCKET_MINUTES = 5


@dataclass(frozen=True)
class Bucket:
    start: Any
    finished: int
    failed: int
    p95_s: float | None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def last_hour(now: Any) -> list[Bucket]:
    start = now - timedelta(hours=1)
    rows: list[tuple[Any, Any, str]] = list(
        Generation.objects.filter(finished_at__gte=start, status__in=Generation.FINAL).values_list(
            "finished_at", "created_at", "status"
        )
    )
    slots: dict[int, list[tuple[float, str]]] = {i: [] for i in range(60 // BUCKET_MINUTES)}
    for finished_at, created_at, status in rows:
        index = min(int((finished_at - start).total_seconds() // (BUCKET_MINUTES * 60)), len(slots) - 1)
        slots[index].append(((finished_at - created_at).total_seconds(), status))
    return [
        Bucket(
            start + timedelta(minutes=BUCKET_MINUTES * i),
            sum(1 for _, s in items if s == Generation.Status.SUCCEEDED),
            sum(1 for _, s in items if s == Generation.Status.FAILED),
            percentile([d for d, s in items if s == Generation.Status.SUCCEEDED], 0.95),
        )
        for i, items in slots.items()
    ]


def spend_on(day_start: Any) -> Decimal:
    day = Generation.objects.filter(finished_at__gte=day_start, finished_at__lt=day_start + timedelta(days=1))
    return day.aggregate(v=Sum("cost_usd"))["v"] or Decimal("0")


@dataclass
class Reconciled:
    """One day of one provider's model: what we priced its calls at, next to what it reported it billed."""

    day: Any
    provider: str
    model: str
    calls: int = 0
    priced_usd: Decimal = Decimal("0")
    text_input_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    images: int = 0
    predict_time_s: float = 0.0
    unreported: int = 0  # calls priced at the table: the provider reported no usage (or its answer was lost)


def reconciliation(now: Any, days: int = 7) -> list[Reconciled]:
    """Our priced cost next to the provider-reported usage, per day and provider model, newest day first."""
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows: dict[tuple[Any, str, str], Reconciled] = {}
    calls = ProviderCall.objects.filter(started_at__gte=since).exclude(outcome=ProviderCall.Outcome.IN_FLIGHT)
    for started_at, provider, model, cost, usage in calls.values_list(
        "started_at", "provider", "model", "cost_usd", "usage"
    ):
        day = started_at.date()
        row = rows.setdefault((day, provider, model), Reconciled(day, provider, model))
        row.calls += 1
        row.priced_usd += cost
        usage = usage or {}
        for field in ("text_input_tokens", "image_input_tokens", "image_output_tokens", "images"):
            setattr(row, field, getattr(row, field) + int(usage.get(field) or 0))
        row.predict_time_s += float(usage.get("predict_time_s") or 0)
        row.unreported += 0 if usage else 1
    return sorted(rows.values(), key=lambda r: (r.day, r.provider, r.model), reverse=True)


def redis_figures() -> dict[str, Any]:
    try:
        client = redis_client()
        depths = {queue: client.llen(queue) for queue in QUEUES}
        breakers = {target.name: breaker_for(target).state() for target in targets()}
        counts = {as_text(k): int(v) for k, v in client.hgetall(CACHE_KEY).items()}
    except Exception:
        return {"redis_down": True}
    kinds = ("exact_hit", "semantic_hit", "coalesced")
    hits = sum(counts.get(kind, 0) for kind in kinds)
    lookups = hits + counts.get("miss", 0)
    ratios = {f"cache_{kind.split('_')[0]}_ratio": counts.get(kind, 0) / lookups if lookups else None for kind in kinds}
    return {"depths": depths, "breakers": breakers, "cache_hit_ratio": hits / lookups if lookups else None, **ratios}


def sparkline(values: list[float | None], width: int = 240, height: int = 36) -> str:
    """A tiny inline SVG polyline (no chart library, no CDN)."""
    points = [v or 0.0 for v in values]
    top = max(points) or 1.0
    step = width / max(len(points) - 1, 1)
    coords = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(points))
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="trend">'
        f'<polyline fill="none" stroke="#417690" stroke-width="2" points="{coords}"/></svg>'
    )


@permission_required(VIEW_OPS, raise_exception=True)
def ops_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    buckets = last_hour(now)
    finished = sum(b.finished + b.failed for b in buckets)
    failed = sum(b.failed for b in buckets)
    hour_durations = [
        (g.finished_at - g.created_at).total_seconds()  # type: ignore[operator]  # finished_at is set: filtered
        for g in Generation.objects.filter(
            finished_at__gte=now - timedelta(hours=1), status=Generation.Status.SUCCEEDED
        ).only("finished_at", "created_at")
    ]
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    calls = ProviderCall.objects.filter(started_at__gte=now - timedelta(hours=1))
    saved_hour, saved_today = lookup.savings(now - timedelta(hours=1)), lookup.savings(today)
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "buckets": buckets,
        "throughput_per_min": round(sum(b.finished for b in buckets) / 60, 2),
        "p95_s": percentile(hour_durations, 0.95),
        "error_rate": failed / finished if finished else 0.0,
        "calls": calls.count(),
        "calls_429": calls.filter(status_code=429).count(),
        "in_flight": Generation.objects.exclude(status__in=Generation.FINAL).count(),
        "spend_today": spend_on(today),
        "spend_yesterday": spend_on(today - timedelta(days=1)),
        "cache_calls_saved": saved_hour.calls,
        "cache_saved_usd": saved_today.usd,
        "cache_calls_saved_today": saved_today.calls,
        "throughput_chart": sparkline([b.finished for b in buckets]),
        "p95_chart": sparkline([b.p95_s for b in buckets]),
        "errors_chart": sparkline([b.failed for b in buckets]),
        "reconciliation": reconciliation(now),
        **redis_figures(),
        "alerts": [
            (alerts.WATCH_BY_METRIC[a.metric], a)
            for a in Alert.objects.filter(cleared_at=None)
            if a.metric in alerts.WATCH_BY_METRIC
        ],
        "recent_alerts": [
            (alerts.WATCH_BY_METRIC[a.metric], a)
            for a in Alert.objects.filter(cleared_at__gte=now - timedelta(days=1))[:10]
            if a.metric in alerts.WATCH_BY_METRIC
        ],
    }
    return TemplateResponse(request, "admin/ops.html", context)
