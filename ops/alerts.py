"""Alerts before complaints: each watched figure against its own trailing baseline, one alert per incident.

Every evaluation (the `ops.alerts` beat task, every ALERTS_INTERVAL_S) measures each figure over the recent window,
stores it as a sample, and compares it with the last day's samples: above their mean + 3 standard deviations (and at
least `min_delta` above the mean) it opens an alert, shown on /admin/ops/, mailed to staff and exported in /metrics;
back under halfway to that threshold it clears. Rates and percentiles need MIN_EVENTS in their window, and a baseline
needs MIN_SAMPLES, so a quiet night (or a fresh install) pages nobody.
"""

from __future__ import annotations

import logging
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Min, Sum
from django.utils import timezone

from core.redis import redis_client
from generation.models import Generation, ProviderCall
from ops.models import Alert, MetricSample

log = logging.getLogger("ops")
Status = Generation.Status
WINDOW = timedelta(minutes=15)
BASELINE = timedelta(hours=24)
KEEP = timedelta(hours=48)
SIGMAS = 3.0
MIN_EVENTS = 20
MIN_SAMPLES = 30
LOCK = "ops:alerts:lock"
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p95_generation_s(now: datetime) -> float | None:
    """Request to stored result, of the jobs that succeeded in the window."""
    rows = Generation.objects.filter(status=Status.SUCCEEDED, cached=False, finished_at__gt=now - WINDOW)
    durations = [(done - made).total_seconds() for made, done in rows.values_list("created_at", "finished_at") if done]
    return percentile(durations, 0.95) if len(durations) >= MIN_EVENTS else None


def error_rate(now: datetime) -> float | None:
    """Failed among the jobs that ended in the window (cancelled ones are the user's choice, not an error)."""
    ended = Generation.objects.filter(
        finished_at__gt=now - WINDOW, status__in=[Status.SUCCEEDED, Status.FAILED], cached=False
    )
    total = ended.count()
    return ended.filter(status=Status.FAILED).count() / total if total >= MIN_EVENTS else None


def provider_429_rate(now: datetime) -> float | None:
    calls = ProviderCall.objects.filter(started_at__gt=now - WINDOW)
    total = calls.count()
    return calls.filter(status_code=429).count() / total if total >= MIN_EVENTS else None


def oldest_queued_s(now: datetime) -> float:
    oldest = Generation.objects.filter(status=Status.QUEUED).aggregate(at=Min("created_at"))["at"]
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def spend_per_hour_usd(now: datetime) -> float:
    """What the provider calls of the last hour cost us (a call of unknown outcome at its estimate)."""
    spent = ProviderCall.objects.filter(started_at__gt=now - timedelta(hours=1)).aggregate(v=Sum("cost_usd"))["v"]
    return float(spent or 0)


@dataclass(frozen=True)
class Watch:
    metric: str
    label: str
    unit: str
    min_delta: float  # never an alert for less than this above the baseline mean, however flat the baseline
    measure: Callable[[datetime], float | None]

    def show(self, value: float) -> str:
        if self.unit == "%":
            return f"{value * 100:.0f}%"
        if self.unit == "$":
            return f"${value:.2f}"
        return f"{value:.0f} s"


WATCHES = (
    Watch("p95_generation_s", "P95 generation time", "s", 30.0, p95_generation_s),
    Watch("error_rate", "Error rate", "%", 0.10, error_rate),
    Watch("provider_429_rate", "Provider 429 rate", "%", 0.10, provider_429_rate),
    Watch("oldest_queued_s", "Oldest queued job", "s", 120.0, oldest_queued_s),
    Watch("spend_per_hour_usd", "Provider spend per hour", "$", 1.0, spend_per_hour_usd),
)
WATCH_BY_METRIC = {watch.metric: watch for watch in WATCHES}


@dataclass(frozen=True)
class Baseline:
    mean: float
    threshold: float

    @property
    def clear_level(self) -> float:
        """Back to normal: under halfway from the mean to the threshold, so a figure on the edge does not flap."""
        return self.mean + (self.threshold - self.mean) / 2


def baseline_for(watch: Watch, now: datetime) -> Baseline | None:
    """Mean + 3 standard deviations of the last day's samples taken outside incidents; None while too few."""
    values = list(
        MetricSample.objects.filter(metric=watch.metric, at__gte=now - BASELINE, at__lt=now, firing=False).values_list(
            "value", flat=True
        )
    )
    if len(values) < MIN_SAMPLES:
        return None
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return Baseline(mean, max(mean + SIGMAS * spread, mean + watch.min_delta))


def evaluate(now: datetime | None = None) -> dict[str, str]:
    """Measure every watched figure once, open or clear its alert; what happened to each (for the log)."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    try:
        if not redis_client().set(LOCK, token, nx=True, px=int(settings.ALERTS_INTERVAL_S * 1000 * 0.8)):
            return {}  # another process evaluates this round
    except Exception:
        log.warning("alerts evaluated without their lock: Redis is unavailable")
    try:
        outcome = {watch.metric: evaluate_one(watch, now) for watch in WATCHES}
        MetricSample.objects.filter(at__lt=now - KEEP).delete()
    finally:
        release(token)
    return outcome


def release(token: str) -> None:
    try:
        redis_client().register_script(RELEASE)(keys=[LOCK], args=[token])
    except Exception:
        log.debug("alerts lock not released; it expires", exc_info=True)


def evaluate_one(watch: Watch, now: datetime) -> str:
    value = watch.measure(now)
    baseline = baseline_for(watch, now)
    alert = Alert.objects.filter(metric=watch.metric, cleared_at=None).first()
    if value is not None:
        MetricSample.objects.create(metric=watch.metric, value=value, at=now, firing=alert is not None)
    if alert is not None:
        if value is None or baseline is None or value <= baseline.clear_level:
            clear(alert, watch, value, now)
            return "cleared"
        Alert.objects.filter(pk=alert.pk).update(last_value=value, peak=max(alert.peak, value))
        return "firing"
    if value is not None and baseline is not None and value > baseline.threshold:
        return "opened" if open_alert(watch, value, baseline, now) else "firing"
    return "normal" if value is not None else "too few events"


def open_alert(watch: Watch, value: float, baseline: Baseline, now: datetime) -> bool:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                metric=watch.metric,
                opened_at=now,
                value=value,
                peak=value,
                last_value=value,
                threshold=baseline.threshold,
                baseline=baseline.mean,
            )
    except IntegrityError:  # another evaluation opened it first: still one alert for this incident
        return False
    log.warning("alert opened metric=%s value=%s threshold=%s", watch.metric, value, baseline.threshold)
    notify(
        f"Alert: {watch.label} is {watch.show(value)}",
        f"{watch.label} is {watch.show(value)}; over the last day it was {watch.show(baseline.mean)} on average, "
        f"and above {watch.show(baseline.threshold)} is out of the ordinary.\n\n"
        f"Opened {alert.opened_at:%Y-%m-%d %H:%M} UTC. See {settings.SITE_URL}/admin/ops/; "
        "you will hear again when it is back to normal.\n",
    )
    return True


def clear(alert: Alert, watch: Watch, value: float | None, now: datetime) -> None:
    if not Alert.objects.filter(pk=alert.pk, cleared_at=None).update(cleared_at=now, last_value=value):
        return
    log.info("alert cleared metric=%s value=%s", watch.metric, value)
    shown = watch.show(value) if value is not None else "too quiet to measure"
    notify(
        f"Resolved: {watch.label} is back to normal",
        f"{watch.label} is {shown} (it peaked at {watch.show(alert.peak)}). The alert opened "
        f"{alert.opened_at:%Y-%m-%d %H:%M} UTC and cleared {now:%Y-%m-%d %H:%M} UTC.\n",
    )


def notify(subject: str, body: str) -> None:
    """Mail every active staff member who has an address; an outage of the mail server is only logged."""
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    recipients = sorted(set(staff.values_list("email", flat=True)))
    if not recipients:
        return
    try:
        send_mail(f"[InteriorAI] {subject}", body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        log.warning("alert email not sent: %s", subject, exc_info=True)


def firing() -> dict[str, Alert]:
    return {alert.metric: alert for alert in Alert.objects.filter(cleared_at=None)}
