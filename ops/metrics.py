"""Prometheus metrics computed at scrape time from the database and Redis.

Workers run in several processes on several machines; rather than merge per-process counters, every
figure is read from where the truth already lives, so /metrics always agrees with the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from billing.models import Account
from core.counters import (
    CACHE_KEY,
    CACHE_KINDS,
    LIMITER_WAIT_KEY,
    LIMITER_WAITS_KEY,
    MODERATION_KEY,
    MODERATION_RESULTS,
)
from core.redis import as_text, redis_client
from generation.models import Generation, ProviderCall
from generation.provider.client import targets
from generation.provider.gates import breaker_for, limiter_for
from ops import alerts
from ops.access import may_read_metrics

DURATION_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
QUEUES = ("gen.priority", "gen.standard", "default")


class InteriorCollector:
    def collect(self) -> Iterator[Metric]:
        yield from self.generations()
        yield from self.provider_calls()
        yield from self.money()
        yield from self.redis_side()
        yield from self.alerting()

    def alerting(self) -> Iterator[Metric]:
        now = timezone.now()
        oldest = GaugeMetricFamily("interiorai_oldest_queued_seconds", "Age of the oldest queued generation")
        oldest.add_metric([], alerts.oldest_queued_s(now))
        yield oldest
        firing = GaugeMetricFamily(
            "interiorai_alert_firing",
            "1 while the figure is far above its trailing baseline (ops/alerts.py)",
            labels=["metric"],
        )
        open_alerts = alerts.firing()
        for watch in alerts.WATCHES:
            firing.add_metric([watch.metric], 1 if watch.metric in open_alerts else 0)
        yield firing

    def generations(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "interiorai_generations", "Generations by status and error code", labels=["status", "error_code"]
        )
        for row in Generation.objects.values("status", "error_code").annotate(n=Count("id")):
            by_status.add_metric([row["status"], row["error_code"] or ""], row["n"])
        yield by_status
        final = CounterMetricFamily(
            "interiorai_generations_finished", "Generations that reached a final status", labels=["status"]
        )
        for status, n in (
            Generation.objects.filter(status__in=Generation.FINAL).values_list("status").annotate(n=Count("id"))
        ):
            final.add_metric([status], n)
        yield final
        in_flight = GaugeMetricFamily(
            "interiorai_generations_in_flight", "Generations queued or running", labels=["status", "queue"]
        )
        unfinished = Generation.objects.exclude(status__in=Generation.FINAL)
        for status, queue, n in unfinished.values_list("status", "queue").annotate(n=Count("id")):
            in_flight.add_metric([status, queue], n)
        yield in_flight
        yield self.duration_histogram()
        cached = CounterMetricFamily("interiorai_generations_cached", "Generations served from the result cache")
        cached.add_metric([], Generation.objects.filter(cached=True).count())
        yield cached

    def duration_histogram(self) -> Metric:
        took = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())
        done = Generation.objects.filter(status=Generation.Status.SUCCEEDED, finished_at__isnull=False).annotate(
            took=took
        )
        buckets, total = [], 0.0
        for bound in DURATION_BUCKETS:
            buckets.append((str(bound), done.filter(took__lte=timedelta(seconds=bound)).count()))
        count = done.count()
        buckets.append(("+Inf", count))
        for row in done.values_list("took", flat=True).iterator():
            total += row.total_seconds()
        histogram = HistogramMetricFamily(
            "interiorai_generation_duration_seconds", "Time from request to stored result of succeeded generations"
        )
        histogram.add_metric([], buckets, total)
        return histogram

    def provider_calls(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "interiorai_provider_calls",
            "Provider calls by outcome and HTTP status",
            labels=["provider", "model", "outcome", "status_code"],
        )
        limited = CounterMetricFamily(
            "interiorai_provider_429", "Provider answers of 429 Too Many Requests", labels=["provider", "model"]
        )
        rows = ProviderCall.objects.values("provider", "model", "outcome", "status_code").annotate(n=Count("id"))
        too_many: dict[tuple[str, str], int] = {}
        for row in rows:
            code = str(row["status_code"] or "")
            calls.add_metric([row["provider"], row["model"], row["outcome"], code], row["n"])
            if code == "429":
                key = (row["provider"], row["model"])
                too_many[key] = too_many.get(key, 0) + row["n"]
        for (provider, model), n in too_many.items():
            limited.add_metric([provider, model], n)
        yield calls
        yield limited

    def money(self) -> Iterator[Metric]:
        spend = CounterMetricFamily(
            "interiorai_cost_usd", "Money: charged to users and spent upstream", labels=["kind"]
        )
        charged = Generation.objects.aggregate(v=Sum("cost_usd"))["v"] or 0
        upstream = ProviderCall.objects.aggregate(v=Sum("cost_usd"))["v"] or 0
        spend.add_metric(["charged"], float(charged))
        spend.add_metric(["provider"], float(upstream))
        yield spend
        reserved = GaugeMetricFamily(
            "interiorai_reservations_outstanding", "Reserved and not yet settled", labels=["unit"]
        )
        totals = Account.objects.aggregate(usd=Sum("reserved_usd"), n=Sum("reserved_generations"))
        reserved.add_metric(["usd"], float(totals["usd"] or 0))
        reserved.add_metric(["generations"], float(totals["n"] or 0))
        yield reserved
        per_generation = GaugeMetricFamily(
            "interiorai_cost_per_generation_usd", "Average charged cost of succeeded generations"
        )
        done = Generation.objects.filter(status=Generation.Status.SUCCEEDED).aggregate(v=Sum("cost_usd"), n=Count("id"))
        per_generation.add_metric([], float(done["v"] or 0) / max(done["n"] or 0, 1))
        yield per_generation

    def redis_side(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("interiorai_redis_up", "Whether Redis answered this scrape")
        try:
            client = redis_client()
            client.ping()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("interiorai_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
        for queue in QUEUES:
            depth.add_metric([queue], client.llen(queue))
        yield depth
        state = GaugeMetricFamily(
            "interiorai_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", labels=["target"]
        )
        waiting = GaugeMetricFamily(
            "interiorai_ratelimit_window", "Requests and images booked in the current window", labels=["target", "unit"]
        )
        for target in targets():
            state.add_metric([target.name], {"closed": 0, "half_open": 1, "open": 2}[breaker_for(target).state()])
            requests, images = limiter_for(target).in_window()
            waiting.add_metric([target.name, "requests"], requests)
            waiting.add_metric([target.name, "images"], images)
        yield state
        yield waiting
        wait = CounterMetricFamily("interiorai_ratelimit_wait_seconds", "Time jobs spent waiting for the rate limiter")
        wait.add_metric([], float(client.get(LIMITER_WAIT_KEY) or 0))
        yield wait
        waits = CounterMetricFamily("interiorai_ratelimit_waits", "Times a job had to wait for the rate limiter")
        waits.add_metric([], float(client.get(LIMITER_WAITS_KEY) or 0))
        yield waits
        cache = CounterMetricFamily("interiorai_cache_lookups", "Result cache lookups", labels=["result"])
        counts = {as_text(k): int(v) for k, v in client.hgetall(CACHE_KEY).items()}
        for result in CACHE_KINDS:
            cache.add_metric([result], counts.get(result, 0))
        yield cache
        moderation = CounterMetricFamily(
            "interiorai_moderation_checks", "Prompt moderation checks by result", labels=["result"]
        )
        counts = {as_text(k): int(v) for k, v in client.hgetall(MODERATION_KEY).items()}
        for result in MODERATION_RESULTS:
            moderation.add_metric([result], counts.get(result, 0))
        yield moderation


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_read_metrics(request):
        return HttpResponse(
            "forbidden\n", status=403 if request.user.is_authenticated else 401, content_type="text/plain"
        )
    registry = CollectorRegistry()
    registry.register(InteriorCollector())  # type: ignore[arg-type]
    response = HttpResponse(generate_latest(registry), content_type="text/plain; version=0.0.4; charset=utf-8")
    response["X-Scraped-At"] = timezone.now().isoformat()
    return response
